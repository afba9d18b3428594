//go:build k8s

package deploytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The control plane's binaries: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// built from source by scripts/kube-bins.sh; `make k8s-test` builds them (once) and sets this.
const binDirEnv = "KUBE_BIN_DIR"

// serviceCIDR is the cluster's Service range; 10.96.0.1 is the API server's Service address.
const serviceCIDR = "10.96.0.0/16"

// controlPlane is a private Kubernetes control plane on loopback: etcd, kube-apiserver with the
// default admission plugins (Pod Security Admission among them), token authentication and RBAC,
// and kube-controller-manager, which turns Deployments and StatefulSets into Pods. No node and no
// kubelet: Pods are created and stay Pending.
type controlPlane struct {
	dir, bin string
	url      string // https://127.0.0.1:PORT
	caFile   string
	caPEM    []byte
	admin    string // bearer token in system:masters

	client  *kubernetes.Clientset
	dynamic *dynamic.DynamicClient
	mapper  *restmapper.DeferredDiscoveryRESTMapper

	// tokens of the other programs' users (see writeFiles), for their kubeconfigs
	tokens map[string]string

	mu       sync.Mutex
	procs    []*process
	stopOnce sync.Once
	// Run by stop, in reverse order: beforeStop while everything still runs (a node drains its
	// Pods), afterStop once every program has exited (what the programs left on the host).
	beforeStop, afterStop []func()
}

// process is one of the control plane's programs, with its output in a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited
	err  error
}

// scratchDir makes the test's one temporary directory and points TMPDIR at it for the test's
// duration, so that everything the test writes (t.TempDir included) lies below it and one
// removal cleans up, even after a signal.
func scratchDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "deploytest-k8s-")
	if err != nil {
		t.Fatal(err)
	}
	old, had := os.LookupEnv("TMPDIR")
	// Not t.Setenv: the subtests run in parallel, which t.Setenv forbids. Nothing else in this
	// test binary runs at the same time (make k8s-test runs TestAPIServer alone).
	os.Setenv("TMPDIR", dir)
	t.Cleanup(func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// startControlPlane starts etcd, kube-apiserver and kube-controller-manager with their files in
// scratch/controlplane, and stops them when the test ends, whether it passes, fails or is
// interrupted (SIGINT, SIGTERM: then scratch is removed too, and the test binary exits). It fails
// the test when a binary is missing or a program does not come up.
func startControlPlane(ctx context.Context, t *testing.T, scratch string) *controlPlane {
	t.Helper()
	bin := os.Getenv(binDirEnv)
	if bin == "" {
		t.Fatalf("%s is not set: it names the directory with etcd, kube-apiserver and kube-controller-manager; `make k8s-test` builds them (scripts/kube-bins.sh DIR) and sets it", binDirEnv)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := exec.LookPath(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%s=%s: no %s there (%v): build the control plane with `make k8s-test` or scripts/kube-bins.sh %s", binDirEnv, bin, b, err, bin)
		}
	}
	dir := filepath.Join(scratch, "controlplane")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{dir: dir, bin: bin}

	// The test's own cleanup, and the same on SIGINT/SIGTERM, which would otherwise end the test
	// binary without running any cleanup. The programs also get SIGKILL if the test binary dies
	// (Pdeathsig), so none outlives it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "deploytest: %v: stopping the control plane, removing %s\n", s, scratch)
			cp.stop(t)
			os.RemoveAll(scratch)
			os.Exit(1)
		case <-stopped:
		}
	}()
	t.Cleanup(func() {
		signal.Stop(sigs)
		close(stopped)
		cp.stop(t)
	})

	port := freePort(t)
	cp.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	if err := cp.writeFiles(); err != nil {
		t.Fatalf("control plane files: %v", err)
	}

	// etcd
	etcdClient, etcdPeer := freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	etcd := cp.start(t, "etcd",
		"--name=deploytest", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=deploytest="+peerURL,
		// A throwaway store: durability buys nothing here and fsync costs seconds on a busy disk.
		"--unsafe-no-fsync", "--log-level=warn",
	)
	cp.waitUp(ctx, t, etcd, 60*time.Second, func() error {
		return httpOK(http.DefaultClient, etcdURL+"/health", "")
	})

	// kube-apiserver
	f := func(name string) string { return filepath.Join(dir, name) }
	apiserver := cp.start(t, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+f("apiserver.crt"), "--tls-private-key-file="+f("apiserver.key"),
		"--client-ca-file="+f("ca.crt"),
		"--token-auth-file="+f("tokens.csv"),
		"--authorization-mode=Node,RBAC",
		// As in every real cluster (node agents need it), so that Pod Security Admission, not
		// this switch, is what refuses a privileged container.
		"--allow-privileged=true",
		"--service-account-key-file="+f("sa.pub"),
		"--service-account-signing-key-file="+f("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+serviceCIDR,
		// The API server's own Endpoints would name 127.0.0.1, which the API refuses; nothing
		// here reaches it through the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	)
	cp.waitUp(ctx, t, apiserver, 90*time.Second, func() error {
		return httpOK(cp.httpClient(), cp.url+"/readyz", cp.admin)
	})

	// kube-controller-manager
	kcm := cp.start(t, "kube-controller-manager",
		"--kubeconfig="+f("controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+f("controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+f("controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(freePort(t)),
		"--leader-elect=false",
		// Every controller but the one that hands nodes address ranges (there is no node).
		"--controllers=*,-node-ipam-controller",
		// Each controller acts with its own service account and RBAC role, as in a real cluster.
		"--use-service-account-credentials",
		"--service-account-private-key-file="+f("sa.key"),
		"--root-ca-file="+f("ca.crt"),
		// The autoscalers act within seconds rather than the default 15.
		"--horizontal-pod-autoscaler-sync-period=2s",
		"--profiling=false",
	)

	cfg := cp.restConfig()
	var err error
	if cp.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if cp.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cp.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	// The controller manager is up when its service account controller has made the default
	// service account of a namespace: then the controllers run, under their own accounts.
	cp.waitUp(ctx, t, kcm, 90*time.Second, func() error {
		_, err := cp.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	v, err := cp.client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	t.Logf("control plane up: kube-apiserver %s (%s) with etcd and kube-controller-manager, in %s", v.GitVersion, v.GoVersion, dir)
	return cp
}

// writeFiles writes the certificates, keys, token file and kubeconfig the programs read.
func (cp *controlPlane) writeFiles() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "deploytest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	cp.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	cp.caFile = filepath.Join(cp.dir, "ca.crt")
	files := map[string][]byte{
		"ca.crt":        cp.caPEM,
		"apiserver.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER}),
	}
	for name, key := range map[string]*ecdsa.PrivateKey{"apiserver.key": serverKey, "sa.key": saKey} {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		files[name] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	files["sa.pub"] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})

	// Static bearer tokens: the test is cluster admin; each program is the user its default RBAC
	// roles are bound to (the node's kubelet is authorized by the Node authorizer). CoreDNS, which
	// in a cluster has its own role, is admin here: no manifest of its RBAC is under test.
	cp.admin = randomToken()
	users := []struct{ kubeconfig, user, groups string }{
		{"controller-manager", "system:kube-controller-manager", ""},
		{"scheduler", "system:kube-scheduler", ""},
		{"kube-proxy", "system:kube-proxy", ""},
		{"kubelet", "system:node:" + nodeName, "system:nodes"},
		{"coredns", "deploytest-coredns", "system:masters"},
	}
	tokens := fmt.Appendf(nil, "%s,deploytest-admin,admin,\"system:masters\"\n", cp.admin)
	cp.tokens = map[string]string{}
	for _, u := range users {
		tok := randomToken()
		cp.tokens[u.kubeconfig] = tok
		tokens = fmt.Appendf(tokens, "%s,%s,%s,%q\n", tok, u.user, u.user, u.groups)
	}
	files["tokens.csv"] = tokens
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(cp.dir, name), b, 0o600); err != nil {
			return err
		}
	}
	for _, u := range users {
		if err := cp.writeKubeconfig(u.kubeconfig+".kubeconfig", cp.tokens[u.kubeconfig]); err != nil {
			return err
		}
	}
	return nil
}

// nodeName is the name of the one node of TestNode.
const nodeName = "deploytest-node"

func (cp *controlPlane) writeKubeconfig(name, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["deploytest"] = &clientcmdapi.Cluster{Server: cp.url, CertificateAuthority: cp.caFile}
	cfg.AuthInfos["deploytest"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["deploytest"] = &clientcmdapi.Context{Cluster: "deploytest", AuthInfo: "deploytest"}
	cfg.CurrentContext = "deploytest"
	return clientcmd.WriteToFile(*cfg, filepath.Join(cp.dir, name))
}

// start runs one of the built binaries with its output in DIR/NAME.log.
func (cp *controlPlane) start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	return cp.startProgram(t, name, filepath.Join(cp.bin, name), args...)
}

// startProgram runs a program with its output in DIR/NAME.log; stop stops it.
func (cp *controlPlane) startProgram(t *testing.T, name, path string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(cp.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	cp.mu.Lock()
	cp.procs = append(cp.procs, p)
	cp.mu.Unlock()
	return p
}

// waitUp polls ready until it succeeds, and fails the test if the process exits or the time
// runs out, with the end of the process's log.
func (cp *controlPlane) waitUp(ctx context.Context, t *testing.T, p *process, limit time.Duration, ready func() error) {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		err := ready()
		if err == nil {
			t.Logf("%s up after %s", p.name, time.Since(start).Round(10*time.Millisecond))
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before it was up; the end of its log:\n%s", p.name, p.err, tail(p.log, 40))
		case <-deadline.C:
			t.Fatalf("%s not up after %s (%v); the end of its log:\n%s", p.name, limit, err, tail(p.log, 40))
		case <-ctx.Done():
			t.Fatalf("%s not up: %v", p.name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop stops the programs in the reverse order of their start, each with SIGTERM and after 20
// seconds SIGKILL (the API server before etcd: without etcd it takes a minute to give up). When
// the test failed it shows the end of each log.
func (cp *controlPlane) stop(t *testing.T) {
	cp.stopOnce.Do(func() {
		cp.mu.Lock()
		before := cp.beforeStop
		cp.mu.Unlock()
		for i := len(before) - 1; i >= 0; i-- {
			before[i]()
		}
		cp.mu.Lock()
		procs, after := cp.procs, cp.afterStop
		cp.mu.Unlock()
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			select {
			case <-p.done:
				continue
			default:
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		for i := len(after) - 1; i >= 0; i-- {
			after[i]()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("the end of %s's log:\n%s", p.name, tail(p.log, 25))
			}
		}
	})
}

// restConfig is the test's client configuration: cluster admin, the API server's certificate
// checked against the test's CA, and the server's warnings collected per request (see
// collectWarnings).
func (cp *controlPlane) restConfig() *rest.Config {
	return &rest.Config{
		Host:                      cp.url,
		BearerToken:               cp.admin,
		TLSClientConfig:           rest.TLSClientConfig{CAData: cp.caPEM},
		QPS:                       100,
		Burst:                     200,
		WarningHandlerWithContext: warningCollector{},
	}
}

func (cp *controlPlane) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cp.caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
}

// warningCollector hands each warning the API server sends to the list that the request's
// context carries (collectWarnings), so concurrent requests keep their warnings apart.
type warningCollector struct{}

type warningsKey struct{}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (warningCollector) HandleWarningHeaderWithContext(ctx context.Context, code int, agent, text string) {
	if w, ok := ctx.Value(warningsKey{}).(*warnings); ok {
		w.mu.Lock()
		w.list = append(w.list, text)
		w.mu.Unlock()
	}
}

// collectWarnings returns a context whose requests' warnings are appended to w.
func collectWarnings(ctx context.Context, w *warnings) context.Context {
	return context.WithValue(ctx, warningsKey{}, w)
}

func httpOK(c *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\t" + strings.Join(lines, "\n\t")
}

// testContext is the test's context, ending a minute before the test binary's deadline so that
// the control plane is stopped by the cleanup rather than left to a panic.
func testContext(t *testing.T) context.Context {
	ctx := t.Context()
	if dl, ok := t.Deadline(); ok {
		c, cancel := context.WithDeadline(ctx, dl.Add(-time.Minute))
		t.Cleanup(cancel)
		ctx = c
	}
	return ctx
}
