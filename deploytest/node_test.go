//go:build k8s

package deploytest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node's network: its pods on a bridge of their own, the Services' addresses routed to that
// bridge too (kube-proxy rewrites them to pod addresses; nothing for them ever takes the default
// route off the machine), and the node's own address, the bridge's, where the kubelet and CoreDNS
// listen. Nothing here is reachable from outside.
const (
	nodeBridge  = "dtk0"
	podCIDR     = "10.244.0.0/24"
	nodeIP      = "10.244.0.1"
	storeImages = "voting-offline" // the local stand-ins for postgres and redis (deploy/offline)
)

// The images the dev overlay runs: the services' as `make images` builds them, and the local
// stand-ins of the stores (deploy/compose/offline.env), which the test puts in place of postgres:17
// and redis:7.4 as compose does offline.
var nodeImages = []string{
	"voting-app/vote:dev", "voting-app/worker:dev", "voting-app/result:dev", "voting-app/analyzer:dev",
	storeImages + "/postgres:15", storeImages + "/redis:7.0",
}

// TestNode runs the dev overlay on one real node: the control plane of TestAPIServer plus
// kube-scheduler, a kubelet on a private containerd (CRI) with the bridge CNI plugin, kube-proxy
// (nftables) and CoreDNS. Every Pod must become Ready, and a vote cast through the vote Service
// must be counted on the result Service. NetworkPolicies are not enforced: no policy engine builds
// here (see deploy/k8s/README.md).
func TestNode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestNode runs a kubelet and changes the network (a bridge, routes, nftables): run it as root")
	}
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables", "nft", "docker"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (%v): install containerd, runc, iproute2, iptables, nftables and docker.io (apt-get install ...)", tool, err)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", plugin)); err != nil {
			t.Fatalf("CNI plugin %s not found: apt-get install containernetworking-plugins", plugin)
		}
	}
	for _, b := range []string{"kube-scheduler", "kubelet", "kube-proxy", "pause", "coredns"} {
		if _, err := os.Stat(filepath.Join(os.Getenv(binDirEnv), b)); err != nil {
			t.Fatalf("%s not found in %s=%s: build it with make k8s-test (scripts/kube-bins.sh)", b, binDirEnv, os.Getenv(binDirEnv))
		}
	}
	// Pod to Service to pod crosses the host: it must forward, and pass bridged packets through
	// netfilter so that kube-proxy's rewriting applies to the replies. Docker sets both.
	for _, sysctl := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"} {
		if b, err := os.ReadFile("/proc/sys/" + sysctl); err != nil || strings.TrimSpace(string(b)) != "1" {
			t.Fatalf("%s is not 1 (%q, %v): sysctl -w %s=1 (Docker's daemon sets it when it starts)", sysctl, b, err, strings.ReplaceAll(sysctl, "/", "."))
		}
	}
	if out, err := exec.Command("docker", append([]string{"image", "inspect", "--format", "{{.Id}}"}, nodeImages...)...).CombinedOutput(); err != nil {
		t.Fatalf("the images %v are needed: build them with make images\n%s", nodeImages, out)
	}

	scratch := scratchDir(t)
	ctx := testContext(t)
	cp := startControlPlane(ctx, t, scratch)
	n := &node{cp: cp, dir: filepath.Join(scratch, "node")}
	if err := os.Mkdir(n.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n.network(t)
	n.start(ctx, t)

	tree := workTree(t)
	overlay := filepath.Join(tree, "deploytest/node-dev")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(`# The dev overlay with the local stand-ins for the stores' images. Every image was loaded from
# Docker's store: a missing one must fail at once (ErrImageNeverPull), never be looked for on a
# registry, as the overlay's IfNotPresent would.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../deploy/k8s/overlays/dev]
images:
  - {name: postgres, newName: `+storeImages+`/postgres, newTag: "15"}
  - {name: redis, newName: `+storeImages+`/redis, newTag: "7.0"}
patches:
  - target: {kind: Deployment}
    patch: &never |-
      - op: replace
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: Never
  - target: {kind: StatefulSet}
    patch: *never
`), 0o644); err != nil {
		t.Fatal(err)
	}
	m := render(t, overlay)
	objs := inNamespace(t, m, "voting-app")
	n.volumes(ctx, t, m)
	for _, r := range cp.applyAll(ctx, objs) {
		if r.err != nil {
			t.Fatalf("%s: %v", r, r.err)
		}
		for _, w := range r.warnings {
			t.Errorf("%s: warning: %s", r, w)
		}
	}
	start := time.Now()
	if !n.waitReady(ctx, t, "voting-app", 5*time.Minute) {
		return
	}
	t.Logf("every Pod Running and Ready %s after the apply", time.Since(start).Round(time.Second))
	n.vote(ctx, t, "voting-app")
	n.voteLimit(ctx, t, "voting-app")
}

// node is the one node: its programs run under the control plane, which stops them.
type node struct {
	cp       *controlPlane
	dir      string
	socket   string // containerd's
	netnsOld map[string]bool
	// the kubelet's iptables chains that existed before it started (none, normally)
	chainsOld map[string]bool
}

// network makes the bridge, the route for the Services and the forwarding rule for the bridge,
// and undoes them when the control plane stops.
func (n *node) network(t *testing.T) {
	t.Helper()
	run := func(args ...string) error {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("ip", "link", "show", nodeBridge); err == nil {
		t.Fatalf("a network device %s exists already: another TestNode running, or one killed before its cleanup (ip link del %s)", nodeBridge, nodeBridge)
	}
	// Docker's FORWARD policy drops what it does not know; pods talk to each other over the
	// bridge (br_netfilter passes bridged traffic through FORWARD). Only bridge to bridge: a pod
	// has no way out of the machine.
	chain := "FORWARD"
	if run("iptables", "-n", "-L", "DOCKER-USER") == nil {
		chain = "DOCKER-USER"
	}
	rule := []string{chain, "-i", nodeBridge, "-o", nodeBridge, "-j", "ACCEPT"}
	steps := []struct{ do, undo []string }{
		{[]string{"ip", "link", "add", nodeBridge, "type", "bridge"}, []string{"ip", "link", "del", nodeBridge}},
		{[]string{"ip", "addr", "add", nodeIP + "/24", "dev", nodeBridge}, nil},
		{[]string{"ip", "link", "set", nodeBridge, "up"}, nil},
		{[]string{"ip", "route", "add", serviceCIDR, "dev", nodeBridge}, nil},
		{append([]string{"iptables", "-I"}, rule...), append([]string{"iptables", "-D"}, rule...)},
	}
	for _, s := range steps {
		if err := run(s.do...); err != nil {
			n.cp.stop(t)
			t.Fatal(err)
		}
		if s.undo != nil {
			undo := s.undo
			n.cp.mu.Lock()
			n.cp.afterStop = append(n.cp.afterStop, func() {
				if err := run(undo...); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			})
			n.cp.mu.Unlock()
		}
	}
}

// start starts containerd, loads the images, and starts kube-scheduler, the kubelet, kube-proxy
// and CoreDNS, then waits for the node to be Ready.
func (n *node) start(ctx context.Context, t *testing.T) {
	t.Helper()
	cp := n.cp
	free := func() string { return strconv.Itoa(freePort(t)) }
	kubeconfig := func(name string) string { return filepath.Join(cp.dir, name+".kubeconfig") }
	write := func(name, content string) string {
		path := filepath.Join(n.dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// What the node leaves on the host, removed after everything stopped: mounts below the
	// scratch directory, the network namespaces containerd pinned, the kubelet's cgroups,
	// kube-proxy's nftables tables, and any container a shim still runs.
	n.netnsOld = netnsPins()
	n.chainsOld = kubeletChains()
	for _, ctrl := range cgroupControllers() {
		if _, err := os.Stat(filepath.Join(ctrl, "kubepods")); err == nil {
			t.Fatalf("%s/kubepods exists: another kubelet runs on this machine, or one was killed before its cleanup", ctrl)
		}
	}
	cp.mu.Lock()
	cp.afterStop = append(cp.afterStop, func() { n.cleanHost(t) })
	cp.mu.Unlock()

	// containerd, with the CRI plugin, its own root, state and socket. Docker's containerd runs
	// without CRI and is left alone. The pause container would get oom_score_adj -998, which
	// needs CAP_SYS_RESOURCE; where root lacks it (some VMs and containers) runc fails with
	// "can't get final child's PID from pipe", so the scores are kept at or above containerd's.
	n.socket = filepath.Join(n.dir, "containerd.sock")
	cniConf := filepath.Join(n.dir, "cni")
	if err := os.Mkdir(cniConf, 0o755); err != nil {
		t.Fatal(err)
	}
	write("cni/10-deploytest.conflist", `{
  "cniVersion": "1.0.0",
  "name": "deploytest",
  "plugins": [{
    "type": "bridge", "bridge": "`+nodeBridge+`", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "dataDir": "`+filepath.Join(n.dir, "ipam")+`",
             "ranges": [[{"subnet": "`+podCIDR+`", "gateway": "`+nodeIP+`"}]], "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}`)
	containerdConf := write("containerd.toml", fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "deploytest/pause:local"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
`, filepath.Join(n.dir, "containerd/root"), filepath.Join(n.dir, "containerd/state"), n.socket, n.socket+".ttrpc", cniConf))
	containerd := cp.startProgram(t, "containerd", "containerd", "--config", containerdConf)
	cp.waitUp(ctx, t, containerd, 60*time.Second, func() error {
		return exec.Command("ctr", "--address", n.socket, "version").Run()
	})
	n.loadImages(ctx, t)

	scheduler := cp.start(t, "kube-scheduler",
		"--kubeconfig="+kubeconfig("scheduler"),
		"--authentication-kubeconfig="+kubeconfig("scheduler"),
		"--authorization-kubeconfig="+kubeconfig("scheduler"),
		"--bind-address=127.0.0.1", "--secure-port="+free(), "--leader-elect=false",
	)

	kubeletConf := write("kubelet.yaml", fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %s
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
# The host has cgroup v1 (hybrid); this kubelet still supports it when told to.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
clusterDNS: [%s]
clusterDomain: cluster.local
podCIDR: %s
podLogsDir: %s
serializeImagePulls: false
# A busy shared disk must not evict the test's pods.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, nodeIP, free(), free(), n.socket, nodeIP, podCIDR, filepath.Join(n.dir, "pod-logs")))
	kubelet := cp.start(t, "kubelet",
		"--config="+kubeletConf, "--kubeconfig="+kubeconfig("kubelet"),
		"--hostname-override="+nodeName, "--node-ip="+nodeIP,
		"--root-dir="+filepath.Join(n.dir, "kubelet"), "--cert-dir="+filepath.Join(n.dir, "kubelet-pki"),
	)
	// Before the kubelet stops: delete the Pods, so that it unmounts their volumes and removes
	// their sandboxes itself.
	cp.mu.Lock()
	cp.beforeStop = append(cp.beforeStop, func() { n.drain(t) })
	cp.mu.Unlock()

	proxy := cp.start(t, "kube-proxy",
		"--kubeconfig="+kubeconfig("kube-proxy"), "--hostname-override="+nodeName,
		"--proxy-mode=nftables", "--cluster-cidr="+podCIDR,
		"--metrics-bind-address=127.0.0.1:"+free(), "--healthz-bind-address=127.0.0.1:"+free(),
	)

	// CoreDNS on the node's address (the kubelet's clusterDNS), answering for cluster.local only:
	// no query is forwarded off the machine.
	ready := free()
	corefile := write("Corefile", fmt.Sprintf(`.:53 {
    bind %s
    errors
    ready 127.0.0.1:%s
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s deploytest
        fallthrough in-addr.arpa ip6.arpa
    }
}
`, nodeIP, ready, kubeconfig("coredns")))
	coredns := cp.start(t, "coredns", "-conf", corefile)
	cp.waitUp(ctx, t, coredns, 60*time.Second, func() error {
		return httpOK(http.DefaultClient, "http://127.0.0.1:"+ready+"/ready", "")
	})

	cp.waitUp(ctx, t, kubelet, 2*time.Minute, func() error {
		no, err := cp.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range no.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready", nodeName)
	})
	for _, p := range []*process{scheduler, proxy} {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v):\n%s", p.name, p.err, tail(p.log, 30))
		default:
		}
	}
	t.Logf("node %s Ready: kubelet on containerd (CRI), bridge CNI, kube-proxy (nftables), CoreDNS", nodeName)
}

// loadImages puts the pause image and the app's images into containerd's store: the pause
// image made here from the pause binary, the others as docker saves them.
func (n *node) loadImages(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	pause, err := pauseImage(filepath.Join(os.Getenv(binDirEnv), "pause"), "deploytest/pause:local")
	if err != nil {
		t.Fatalf("pause image: %v", err)
	}
	ctrImport := func(r io.Reader) {
		cmd := exec.CommandContext(ctx, "ctr", "--address", n.socket, "--namespace", "k8s.io", "images", "import", "-")
		cmd.Stdin = r
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ctr images import: %v\n%s", err, out)
		}
	}
	ctrImport(bytes.NewReader(pause))
	save := exec.CommandContext(ctx, "docker", append([]string{"save"}, nodeImages...)...)
	out, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	save.Stderr = &stderr
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	ctrImport(out)
	if err := save.Wait(); err != nil {
		t.Fatalf("docker save: %v\n%s", err, stderr.String())
	}
	t.Logf("images loaded into containerd in %s: pause, %s", time.Since(start).Round(100*time.Millisecond), strings.Join(nodeImages, ", "))
}

// pauseImage returns a docker-archive image holding only the static pause binary, as the
// upstream pause image does.
func pauseImage(binary, tag string) ([]byte, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := lw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := lw.Write(bin); err != nil {
		return nil, err
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	diffID := sha256.Sum256(layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": []string{"/pause"}, "User": "65535:65535"},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		return nil, err
	}
	configID := sha256.Sum256(config)
	configName := hex.EncodeToString(configID[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{tag}, "Layers": []string{"layer.tar"}}})
	if err != nil {
		return nil, err
	}
	var archive bytes.Buffer
	aw := tar.NewWriter(&archive)
	for _, f := range []struct {
		name string
		data []byte
	}{{"layer.tar", layer.Bytes()}, {configName, config}, {"manifest.json", manifest}} {
		if err := aw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := aw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return archive.Bytes(), aw.Close()
}

// volumes makes a PersistentVolume for each claim of the manifest's StatefulSets: a directory
// owned by the store's user (hostPath volumes get no fsGroup), bound to its claim. There is no
// provisioner on this node.
func (n *node) volumes(ctx context.Context, t *testing.T, m *manifest) {
	t.Helper()
	for _, claim := range objectsOf[*appsv1.StatefulSet](m) {
		{
			for _, tmpl := range claim.Spec.VolumeClaimTemplates {
				name := tmpl.Name + "-" + claim.Name + "-0"
				dir := filepath.Join(n.dir, "volumes", name)
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(dir, storeUID, storeUID); err != nil {
					t.Fatal(err)
				}
				pv := &corev1.PersistentVolume{
					ObjectMeta: metav1.ObjectMeta{Name: "voting-app-" + name},
					Spec: corev1.PersistentVolumeSpec{
						Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")},
						AccessModes:                   tmpl.Spec.AccessModes,
						PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
						StorageClassName:              "",
						ClaimRef:                      &corev1.ObjectReference{Namespace: "voting-app", Name: name},
						PersistentVolumeSource: corev1.PersistentVolumeSource{
							HostPath: &corev1.HostPathVolumeSource{Path: dir},
						},
					},
				}
				if _, err := n.cp.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
					t.Fatalf("PersistentVolume for %s: %v", name, err)
				}
			}
		}
	}
}

// waitReady waits until every Deployment and StatefulSet in ns has all its Pods Running and
// Ready, and reports what is not (with the Pods' states, events and logs) when the time is up.
func (n *node) waitReady(ctx context.Context, t *testing.T, ns string, limit time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(limit)
	var short []string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		short = short[:0]
		deps, err := n.cp.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			short = append(short, err.Error())
		} else {
			for _, d := range deps.Items {
				want := ptrOr(d.Spec.Replicas, 1)
				if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.AvailableReplicas != want {
					short = append(short, fmt.Sprintf("Deployment/%s: %d of %d available", d.Name, d.Status.AvailableReplicas, want))
				}
			}
		}
		stss, err := n.cp.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			short = append(short, err.Error())
		} else {
			for _, s := range stss.Items {
				if want := ptrOr(s.Spec.Replicas, 1); s.Status.ReadyReplicas != want {
					short = append(short, fmt.Sprintf("StatefulSet/%s: %d of %d ready", s.Name, s.Status.ReadyReplicas, want))
				}
			}
		}
		if len(short) == 0 && err == nil {
			return true
		}
		time.Sleep(time.Second)
	}
	t.Errorf("not Ready after %s: %s", limit, strings.Join(short, "; "))
	if pods, err := n.cp.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			var cs []string
			for _, c := range p.Status.ContainerStatuses {
				cs = append(cs, fmt.Sprintf("%s ready=%t restarts=%d %+v", c.Name, c.Ready, c.RestartCount, c.State))
			}
			t.Logf("pod %s: %s %s", p.Name, p.Status.Phase, strings.Join(cs, "; "))
		}
	}
	if evs, err := n.cp.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"}); err == nil {
		for _, e := range evs.Items {
			t.Logf("event %s/%s: %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(n.dir, "pod-logs", "*", "*", "*.log"))
	for _, l := range logs {
		t.Logf("log %s:\n%s", strings.TrimPrefix(l, n.dir), tail(l, 15))
	}
	return false
}

// vote casts votes through the vote Service, as browsers would through the Ingress, each voter
// with its own cookie, and waits until the result Service counts them.
func (n *node) vote(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	addr := func(svc string) string {
		s, err := n.cp.client.CoreV1().Services(ns).Get(ctx, svc, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("http://%s:%d", s.Spec.ClusterIP, s.Spec.Ports[0].Port)
	}
	vote, result := addr("vote"), addr("result")
	ballots := []string{"a", "b", "a"}
	for i, choice := range ballots {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, vote+"/api/v1/votes", strings.NewReader(`{"vote":"`+choice+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("vote %d through the vote Service (%s): %v", i, vote, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("vote %d through the vote Service: %s: %s", i, resp.Status, body)
		}
	}
	var last string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		resp, err := http.Get(result + "/api/results")
		if err != nil {
			last = err.Error()
			continue
		}
		var tally struct {
			Options []struct {
				Key   string
				Votes int
			}
			Total int
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(b)
		if json.Unmarshal(b, &tally) != nil || tally.Total != len(ballots) {
			continue
		}
		got := map[string]int{}
		for _, o := range tally.Options {
			got[o.Key] = o.Votes
		}
		if got["a"] == 2 && got["b"] == 1 {
			t.Logf("%d votes cast through the vote Service (%s), counted on the result Service (%s): %s", len(ballots), vote, result, strings.TrimSpace(last))
			return
		}
	}
	t.Errorf("the result Service does not show the %d votes cast (a=2, b=1); it last said: %s", len(ballots), last)
}

// voteLimit checks vote's per-voter limit as the overlay configures it behind the Ingress: the
// test's connections come from the node's address, a trusted proxy (a pod network), so vote counts
// each request under the client address in X-Real-IP. One client gets its burst and then 429s;
// another, at the same time and through the same proxy, is not affected. The addresses are only
// header values: nothing is sent to them.
func (n *node) voteLimit(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	s, err := n.cp.client.CoreV1().Services(ns).Get(ctx, "vote", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:%d/api/v1/votes", s.Spec.ClusterIP, s.Spec.Ports[0].Port)
	cast := func(client string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"vote":"a"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Real-IP", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("vote as %s: %v", client, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Each vote pod keeps its own buckets, and the Service spreads a client's votes over them:
	// a client gets the burst once per replica. Send well past that.
	d, err := n.cp.client.AppsV1().Deployments(ns).Get(ctx, "vote", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var burst int
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "VOTE_RATE_BURST" {
			burst, _ = strconv.Atoi(e.Value)
		}
	}
	replicas := int(ptrOr(d.Spec.Replicas, 1))
	votes := replicas*burst + 25*replicas
	const busy, other = "198.51.100.7", "203.0.113.9"
	codes := map[int]int{}
	for range votes {
		codes[cast(busy)]++
	}
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusAccepted] > votes-20 {
		t.Errorf("%d votes at once from one client behind the proxy (%d vote Pods, burst %d each): %v, want 429s beyond the bursts: the limit is not per voter", votes, replicas, burst, codes)
	}
	c := cast(other)
	if c/100 != 2 {
		t.Errorf("a second client behind the same proxy got %d while the first was limited: the limit is not per voter", c)
	}
	t.Logf("vote limit behind a trusted proxy: one client's %d votes at once over %d vote Pods (burst %d each) got %v; another client's vote meanwhile got %d", votes, replicas, burst, codes, c)
}

// drain deletes every Pod of the node's namespaces and waits, up to a minute, until the kubelet
// has removed them.
func (n *node) drain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := n.cp.client.CoreV1()
	zero := int64(0)
	nss, err := c.Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("drain: %v", err)
		return
	}
	for _, ns := range nss.Items {
		_ = c.Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	}
	// Controllers would make new Pods: stop them by deleting their owners first.
	for _, ns := range nss.Items {
		_ = n.cp.client.AppsV1().Deployments(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = n.cp.client.AppsV1().StatefulSets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = n.cp.client.AppsV1().ReplicaSets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = c.Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	}
	for ctx.Err() == nil {
		pods, err := c.Pods("").List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			// The kubelet removes a Pod's sandbox after the API object is gone.
			for ctx.Err() == nil && len(n.tasks()) > 0 {
				time.Sleep(500 * time.Millisecond)
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("drain: Pods or containers still there after 90s: %v", n.tasks())
}

// tasks lists the containers containerd still runs.
func (n *node) tasks() []string {
	out, err := exec.Command("ctr", "--address", n.socket, "--namespace", "k8s.io", "tasks", "ls", "-q").Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

// cleanHost removes what the node's programs leave on the host once they have stopped.
func (n *node) cleanHost(t *testing.T) {
	// Containers of shims that outlived containerd (a drain that did not finish).
	for _, pid := range shimPIDs(n.socket) {
		for _, child := range childPIDs(pid) {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if out, err := exec.Command(filepath.Join(n.cp.bin, "kube-proxy"), "--cleanup", "--proxy-mode=nftables").CombinedOutput(); err != nil {
		t.Errorf("kube-proxy --cleanup: %v\n%s", err, out)
	}
	// Mounts below the scratch directory (volumes, rootfs, shm), deepest first.
	mounts := mountsBelow(filepath.Dir(n.dir))
	for pin := range netnsPins() {
		if !n.netnsOld[pin] {
			mounts = append(mounts, pin)
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", m, err)
		}
	}
	for pin := range netnsPins() {
		if !n.netnsOld[pin] {
			_ = os.Remove(pin)
		}
	}
	// The kubelet's iptables chains (a canary to notice flushes, and a rule that drops packets to
	// 127.0.0.0/8 from elsewhere), and the rules jumping to them.
	for key := range kubeletChains() {
		if n.chainsOld[key] {
			continue
		}
		ipt, table, chain := splitChainKey(key)
		rules, _ := exec.Command(ipt, "-t", table, "-S").Output()
		for line := range strings.Lines(string(rules)) {
			f := strings.Fields(line)
			if len(f) == 4 && f[0] == "-A" && f[2] == "-j" && f[3] == chain {
				if out, err := exec.Command(ipt, "-t", table, "-D", f[1], "-j", chain).CombinedOutput(); err != nil {
					t.Errorf("%s -t %s -D %s -j %s: %v %s", ipt, table, f[1], chain, err, out)
				}
			}
		}
		for _, op := range []string{"-F", "-X"} {
			if out, err := exec.Command(ipt, "-t", table, op, chain).CombinedOutput(); err != nil {
				t.Errorf("%s -t %s %s %s: %v %s", ipt, table, op, chain, err, out)
			}
		}
	}
	// The kubelet's cgroups, deepest first; they are empty once the containers are gone.
	for _, ctrl := range cgroupControllers() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(ctrl, "kubepods"), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil {
				t.Errorf("rmdir %s: %v", dirs[i], err)
			}
		}
	}
}

// kubeletChains returns the iptables chains a kubelet makes that exist now, as
// "iptables/TABLE/CHAIN" and "ip6tables/TABLE/CHAIN".
func kubeletChains() map[string]bool {
	found := map[string]bool{}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			out, err := exec.Command(ipt, "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			for line := range strings.Lines(string(out)) {
				f := strings.Fields(line)
				if len(f) == 2 && f[0] == "-N" && slices.Contains([]string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"}, f[1]) {
					found[ipt+"/"+table+"/"+f[1]] = true
				}
			}
		}
	}
	return found
}

func splitChainKey(key string) (ipt, table, chain string) {
	f := strings.SplitN(key, "/", 3)
	return f[0], f[1], f[2]
}

func netnsPins() map[string]bool {
	pins := map[string]bool{}
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			pins[filepath.Join("/var/run/netns", e.Name())] = true
		}
	}
	return pins
}

// cgroupControllers returns the cgroup hierarchies the kubelet makes its cgroups in: each v1
// controller's, and the v2 one a hybrid host mounts at unified.
func cgroupControllers() []string {
	var out []string
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return out
}

// mountsBelow lists the mount points below dir.
func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

// shimPIDs returns the containerd shims serving the containerd at socket.
func shimPIDs(socket string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "containerd-shim-runc-v2" && slices.Contains(args, socket) {
			out = append(out, pid)
		}
	}
	return out
}

// childPIDs returns the processes whose parent is pid.
func childPIDs(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			if len(f) > 1 && f[1] == strconv.Itoa(pid) {
				out = append(out, child)
			}
		}
	}
	return out
}
