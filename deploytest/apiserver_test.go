//go:build k8s

package deploytest

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// The manifests of the previous release, for the upgrade test: deploy/k8s as first published with
// its README. There are no release tags; when there are, this becomes the newest one before the
// current manifests. The test reads it from the repository's history and fails if the clone
// lacks it (a shallow clone).
const previousRelease = "94985cf"

// fieldManager is the name the test applies under, as `kubectl apply --server-side` would use
// "kubectl".
const fieldManager = "deploytest"

// What the API server itself says about each broken fixture (testdata/broken): the words one of
// its objections must contain, or none where it accepts the fixture and only the static checks of
// TestBrokenFixtures catch it. Pod Security Admission refuses the Pods of a workload, not the
// workload (that gets a warning): the controller's FailedCreate event is the refusal.
var serverVerdicts = map[string][]string{
	"run-as-root":        {"Deployment/vote: pods refused: ", `is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true (pod or container "vote" must set securityContext.runAsNonRoot=true)`},
	"privileged-sidecar": {"Deployment/worker: pods refused: ", `is forbidden: violates PodSecurity "restricted:latest": privileged (container "debug" must not set securityContext.privileged=true)`},
	"missing-seccomp":    {"StatefulSet/postgres: pods refused: ", `pods "postgres-0" is forbidden: violates PodSecurity "restricted:latest": seccompProfile (pod or container "postgres" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
	"port-name-too-long": {"Deployment/result: refused: ", `spec.template.spec.containers[0].ports[0].name: Invalid value: "http-for-browsers": must be no more than 15 characters`},

	"writable-root":          nil,
	"service-account-token":  nil,
	"no-readiness-probe":     nil,
	"probe-on-public-port":   nil,
	"no-memory-limit":        nil,
	"gomemlimit-above-limit": nil,
	"latest-tag":             nil,
	"wrong-secret-file":      nil,
	"vote-to-postgres":       nil,
	"open-egress":            nil,
	"no-worker-autoscaler":   nil,
	"pdb-blocks-drain":       nil,
	"half-open":              nil,
	"no-trusted-proxies":     nil,
	"flood-scale-vote-limit": nil,
	"redis-fsync-everysec":   nil,
}

// TestAPIServer applies the manifests to a real control plane (etcd, kube-apiserver and
// kube-controller-manager built from source, see controlplane_test.go): every overlay, every
// broken fixture, and an upgrade from the previous release. Each goes into a namespace of its own
// (the overlay's Namespace object renamed, with its labels: Pod Security "restricted" enforced).
func TestAPIServer(t *testing.T) {
	scratch := scratchDir(t)
	ctx := testContext(t)
	cp := startControlPlane(ctx, t, scratch)
	tree := workTree(t)

	t.Run("overlays", func(t *testing.T) {
		for name := range overlays {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				testOverlay(ctx, t, cp, render(t, filepath.Join(tree, "deploy/k8s/overlays", name)), "overlay-"+name)
			})
		}
	})

	t.Run("broken", func(t *testing.T) {
		dirs, err := os.ReadDir(filepath.Join(tree, "deploytest/testdata/broken"))
		if err != nil {
			t.Fatal(err)
		}
		var staticOnly []string
		for _, d := range dirs {
			want, ok := serverVerdicts[d.Name()]
			if !ok {
				t.Errorf("testdata/broken/%s has no entry in serverVerdicts", d.Name())
				continue
			}
			if len(want) == 0 {
				staticOnly = append(staticOnly, d.Name())
			}
			t.Run(d.Name(), func(t *testing.T) {
				t.Parallel()
				testBroken(ctx, t, cp, render(t, filepath.Join(tree, "deploytest/testdata/broken", d.Name())), d.Name(), want)
			})
		}
		t.Cleanup(func() {
			t.Logf("accepted by the API server, caught only by the static checks (TestBrokenFixtures): %s", strings.Join(staticOnly, ", "))
		})
	})

	t.Run("upgrade", func(t *testing.T) {
		old := releaseTree(t, tree, previousRelease)
		for name := range overlays {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join("deploy/k8s/overlays", name)
				if _, err := os.Stat(filepath.Join(old, dir)); err != nil {
					t.Logf("overlay %s did not exist in %s: nothing to upgrade from", name, previousRelease)
					return
				}
				testUpgrade(ctx, t, cp, render(t, filepath.Join(old, dir)), render(t, filepath.Join(tree, dir)), "upgrade-"+name)
			})
		}
	})
}

// testOverlay: every object is accepted as written (no error, no warning, no field dropped), every
// workload gets its Pods, and applying the same again changes nothing.
func testOverlay(ctx context.Context, t *testing.T, cp *controlPlane, m *manifest, ns string) {
	objs := inNamespace(t, m, ns)
	results := cp.applyAll(ctx, objs)
	for _, r := range results {
		if r.err != nil {
			t.Errorf("%s: refused: %v", r, r.err)
			continue
		}
		for _, w := range r.warnings {
			t.Errorf("%s: warning: %s", r, w)
		}
	}
	if t.Failed() {
		return
	}

	// Read back: everything sent is there, with the value sent.
	for _, r := range results {
		got, err := cp.get(ctx, r.sent)
		if err != nil {
			t.Errorf("%s: read back: %v", r, err)
			continue
		}
		for _, d := range dropped(comparable(r.sent), comparable(got), "") {
			t.Errorf("%s: the server did not keep what was applied: %s", r, d)
		}
	}

	ro := cp.waitForPods(ctx, ns, 2*time.Minute)
	for w, why := range ro.refused {
		t.Errorf("%s: the controller could not create its Pods: %s", w, why)
	}
	for _, p := range ro.pending {
		t.Errorf("still waiting for Pods: %s", p)
	}
	if t.Failed() {
		return
	}
	t.Logf("%d objects applied and read back; Pods created: %s", len(results), strings.Join(ro.created, ", "))

	// Again: a no-op.
	before := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		got, err := cp.get(ctx, o)
		if err != nil {
			t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
		}
		before[o.GetKind()+"/"+o.GetName()] = got
	}
	changed := 0
	for _, r := range cp.applyAll(ctx, objs) {
		switch {
		case r.err != nil:
			t.Errorf("%s: applied again: %v", r, r.err)
		case len(r.warnings) > 0:
			t.Errorf("%s: applied again: warnings %q", r, r.warnings)
		default:
			b := before[r.String()]
			if b.GetResourceVersion() == r.result.GetResourceVersion() {
				continue
			}
			// Another writer (a controller updating status) may have come in between: only a
			// change outside the status counts.
			if diff := dropped(jsonValue(appliedPart(b)), jsonValue(appliedPart(r.result)), ""); len(diff) > 0 {
				changed++
				t.Errorf("%s: applying the same again changed it: %s", r, strings.Join(diff, "; "))
			}
		}
	}
	if changed == 0 && !t.Failed() {
		t.Logf("applied again: no object changed")
	}
}

// testBroken applies a broken fixture and compares what the API server objects to with
// serverVerdicts.
func testBroken(ctx context.Context, t *testing.T, cp *controlPlane, m *manifest, name string, want []string) {
	var objections []string
	for _, r := range cp.applyAll(ctx, inNamespace(t, m, "broken-"+name)) {
		if r.err != nil {
			objections = append(objections, fmt.Sprintf("%s: refused: %v", r, r.err))
		}
		for _, w := range r.warnings {
			objections = append(objections, fmt.Sprintf("%s: warning: %s", r, w))
		}
	}
	ro := cp.waitForPods(ctx, "broken-"+name, 2*time.Minute)
	for _, w := range sortedKeys(ro.refused) {
		objections = append(objections, fmt.Sprintf("%s: pods refused: %s", w, ro.refused[w]))
	}
	for _, p := range ro.pending {
		t.Errorf("still waiting for Pods: %s", p)
	}
	if len(want) == 0 {
		for _, o := range objections {
			t.Errorf("the API server objects, but serverVerdicts says only the static checks catch %s: %s", name, o)
		}
		if len(objections) == 0 {
			t.Logf("accepted by the API server: only the static checks catch it")
		}
		return
	}
	i := slices.IndexFunc(objections, func(o string) bool {
		return !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(o, w) })
	})
	if i < 0 {
		t.Errorf("no objection of the API server contains all of %q; it said:\n\t%s", want, strings.Join(objections, "\n\t"))
		return
	}
	t.Logf("the API server caught it: %s", objections[i])
}

// testUpgrade applies the previous release, then the current manifests over it, as an upgrade
// would: the second apply must succeed without warnings (an immutable field, such as a selector
// or a StatefulSet's volumeClaimTemplates, changed would be refused) and start the rollout.
func testUpgrade(ctx context.Context, t *testing.T, cp *controlPlane, old, cur *manifest, ns string) {
	oldObjs := inNamespace(t, old, ns)
	for _, r := range cp.applyAll(ctx, oldObjs) {
		if r.err != nil {
			t.Fatalf("previous release: %s: refused: %v", r, r.err)
		}
	}
	if ro := cp.waitForPods(ctx, ns, 2*time.Minute); len(ro.refused)+len(ro.pending) > 0 {
		t.Fatalf("previous release: Pods not created: %v %v", ro.refused, ro.pending)
	}
	curObjs := inNamespace(t, cur, ns)
	for _, r := range cp.applyAll(ctx, curObjs) {
		if r.err != nil {
			t.Errorf("%s: refused on upgrade: %v", r, r.err)
		}
		for _, w := range r.warnings {
			t.Errorf("%s: warning on upgrade: %s", r, w)
		}
	}
	if t.Failed() {
		return
	}
	ro := cp.waitForPods(ctx, ns, 2*time.Minute)
	for w, why := range ro.refused {
		t.Errorf("%s: after the upgrade the controller could not create Pods: %s", w, why)
	}
	for _, p := range ro.pending {
		t.Errorf("after the upgrade, still waiting for Pods: %s", p)
	}
	// Server-side apply does not delete: what the previous release had and this one has not
	// stays until deleted (kubectl apply --prune, or by hand). Say what that is.
	var leftOver []string
	for _, o := range oldObjs {
		if !slices.ContainsFunc(curObjs, func(c *unstructured.Unstructured) bool {
			return c.GetKind() == o.GetKind() && c.GetName() == o.GetName()
		}) {
			leftOver = append(leftOver, o.GetKind()+"/"+o.GetName())
		}
	}
	// A StatefulSet replaces its Pod only once the Pods are Running and Ready, which takes a
	// kubelet; its controller has taken the new template (observedGeneration) all the same.
	t.Logf("upgraded from %s: %d objects applied over %d; left from the previous release (to prune): %s; Pods of the current templates: %s",
		previousRelease, len(curObjs), len(oldObjs), strings.Join(leftOver, ", "), strings.Join(ro.created, ", "))
}

// inNamespace returns the manifest's objects as kustomize wrote them, moved to namespace ns (the
// Namespace object renamed), the Namespace first.
func inNamespace(t *testing.T, m *manifest, ns string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range m.objects {
		var u unstructured.Unstructured
		b, err := json.Marshal(o.raw)
		if err == nil {
			err = json.Unmarshal(b, &u.Object)
		}
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if u.GetKind() == "Namespace" {
			u.SetName(ns)
		} else {
			u.SetNamespace(ns)
		}
		out = append(out, &u)
	}
	slices.SortStableFunc(out, func(a, b *unstructured.Unstructured) int {
		return boolInt(b.GetKind() == "Namespace") - boolInt(a.GetKind() == "Namespace")
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// applied is the outcome of one server-side apply.
type applied struct {
	sent, result *unstructured.Unstructured
	warnings     []string
	err          error
}

func (a applied) String() string { return a.sent.GetKind() + "/" + a.sent.GetName() }

// applyAll applies the objects one after the other, in order, as `kubectl apply --server-side`
// does, with strict field validation (an unknown or duplicated field is an error, not a warning).
func (cp *controlPlane) applyAll(ctx context.Context, objs []*unstructured.Unstructured) []applied {
	var out []applied
	for _, o := range objs {
		a := applied{sent: o}
		var w warnings
		ri, err := cp.resource(o)
		if err == nil {
			var data []byte
			if data, err = json.Marshal(o.Object); err == nil {
				a.result, err = ri.Patch(collectWarnings(ctx, &w), o.GetName(), types.ApplyPatchType, data,
					metav1.PatchOptions{FieldManager: fieldManager, FieldValidation: metav1.FieldValidationStrict})
			}
		}
		a.err, a.warnings = err, w.list
		out = append(out, a)
	}
	return out
}

func (cp *controlPlane) get(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := cp.resource(o)
	if err != nil {
		return nil, err
	}
	return ri.Get(ctx, o.GetName(), metav1.GetOptions{})
}

func (cp *controlPlane) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := o.GroupVersionKind()
	mapping, err := cp.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gvk, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return cp.dynamic.Resource(mapping.Resource).Namespace(o.GetNamespace()), nil
	}
	return cp.dynamic.Resource(mapping.Resource), nil
}

// dropped compares what was sent with what the server has, and returns every field sent that the
// server does not have, or has with another value. Lists are compared item by item; quantities
// by value ("0.5" and "500m" are the same CPU).
func dropped(sent, got any, path string) []string {
	switch s := sent.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: sent an object, the server has %v", orRoot(path), got)}
		}
		var out []string
		for _, k := range sortedKeys(s) {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: dropped", path, k))
				continue
			}
			out = append(out, dropped(s[k], gv, path+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return []string{fmt.Sprintf("%s: sent %d items, the server has %v", orRoot(path), len(s), got)}
		}
		var out []string
		for i := range s {
			out = append(out, dropped(s[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if reflect.DeepEqual(sent, got) || sameQuantity(sent, got) {
			return nil
		}
		return []string{fmt.Sprintf("%s: sent %v, the server has %v", orRoot(path), sent, got)}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "."
	}
	return path
}

func sameQuantity(a, b any) bool {
	as, ok1 := a.(string)
	bs, ok2 := b.(string)
	if !ok1 || !ok2 {
		return false
	}
	qa, err1 := resource.ParseQuantity(as)
	qb, err2 := resource.ParseQuantity(bs)
	return err1 == nil && err2 == nil && qa.Cmp(qb) == 0
}

// comparable returns an object as encoding/json decodes it, with a Secret's data decoded: the
// server keeps the bytes, not the base64 text (kustomize wraps it at 76 characters, the server
// does not).
func comparable(o *unstructured.Unstructured) any {
	v := jsonValue(o.Object)
	if o.GetKind() != "Secret" {
		return v
	}
	if data, ok := v.(map[string]any)["data"].(map[string]any); ok {
		for k, enc := range data {
			s, _ := enc.(string)
			if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err == nil {
				data[k] = string(b)
			}
		}
	}
	return v
}

// jsonValue returns v as encoding/json decodes it (numbers as float64), so that values from
// kustomize and from the API client compare.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// appliedPart is an object without what other writers change: its status, its resource version,
// and the managedFields entries of status writers.
func appliedPart(o *unstructured.Unstructured) map[string]any {
	c := o.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "status")
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	var mf []metav1.ManagedFieldsEntry
	for _, e := range c.GetManagedFields() {
		if e.Subresource == "" {
			mf = append(mf, e)
		}
	}
	c.SetManagedFields(mf)
	return c.Object
}

// rollout is where the workloads of a namespace stand.
type rollout struct {
	created []string          // workloads with every Pod they ask for
	pending []string          // workloads still short of Pods, and why
	refused map[string]string // workload → why its controller could not create a Pod (FailedCreate)
}

// waitForPods waits until every Deployment and StatefulSet in ns has the Pods it asks for (those
// of its current template), or its controller reports that it could not create one.
func (cp *controlPlane) waitForPods(ctx context.Context, ns string, limit time.Duration) rollout {
	deadline := time.Now().Add(limit)
	for {
		r, err := cp.rolloutState(ctx, ns)
		if err == nil && len(r.pending) == 0 {
			return r
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				r.pending = append(r.pending, err.Error())
			}
			return r
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (cp *controlPlane) rolloutState(ctx context.Context, ns string) (rollout, error) {
	r := rollout{refused: map[string]string{}}
	apps := cp.client.AppsV1()
	deps, err := apps.Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return r, err
	}
	rss, err := apps.ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return r, err
	}
	stss, err := apps.StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return r, err
	}
	hpas, err := cp.client.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return r, err
	}
	events, err := cp.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
	if err != nil {
		return r, err
	}

	owner := map[string]string{} // ReplicaSet → its Deployment
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Deployment" {
			owner[rs.Name] = ref.Name
		}
	}
	for _, e := range events.Items {
		w := e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name
		if e.InvolvedObject.Kind == "ReplicaSet" && owner[e.InvolvedObject.Name] != "" {
			w = "Deployment/" + owner[e.InvolvedObject.Name]
		}
		r.refused[w] = e.Message
	}

	for _, d := range deps.Items {
		w := "Deployment/" + d.Name
		if _, ok := r.refused[w]; ok {
			continue
		}
		if why := deploymentShort(&d, rss.Items, hpas.Items); why != "" {
			r.pending = append(r.pending, w+": "+why)
		} else {
			r.created = append(r.created, fmt.Sprintf("%s (%d)", w, *d.Spec.Replicas))
		}
	}
	for _, s := range stss.Items {
		w := "StatefulSet/" + s.Name
		if _, ok := r.refused[w]; ok {
			continue
		}
		switch want := ptrOr(s.Spec.Replicas, 1); {
		case s.Status.ObservedGeneration < s.Generation:
			r.pending = append(r.pending, fmt.Sprintf("%s: generation %d not yet seen by its controller", w, s.Generation))
		case s.Status.Replicas < want:
			r.pending = append(r.pending, fmt.Sprintf("%s: %d of %d Pods", w, s.Status.Replicas, want))
		default:
			r.created = append(r.created, fmt.Sprintf("%s (%d)", w, want))
		}
	}
	slices.Sort(r.created)
	return r, nil
}

// deploymentShort says what a Deployment still lacks: its controller has not seen its generation,
// its autoscaler has not brought it to minReplicas, or a ReplicaSet of it is short of Pods.
func deploymentShort(d *appsv1.Deployment, rss []appsv1.ReplicaSet, hpas []autoscalingv2.HorizontalPodAutoscaler) string {
	if d.Status.ObservedGeneration < d.Generation {
		return fmt.Sprintf("generation %d not yet seen by its controller", d.Generation)
	}
	replicas := ptrOr(d.Spec.Replicas, 1)
	for _, h := range hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == "Deployment" && ref.Name == d.Name && replicas < ptrOr(h.Spec.MinReplicas, 1) {
			return fmt.Sprintf("%d replicas, its autoscaler's minimum is %d", replicas, ptrOr(h.Spec.MinReplicas, 1))
		}
	}
	if replicas > 0 && d.Status.UpdatedReplicas < 1 {
		return "no Pod of its current template"
	}
	for _, rs := range rss {
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != d.UID {
			continue
		}
		if rs.Status.ObservedGeneration < rs.Generation || rs.Status.Replicas != ptrOr(rs.Spec.Replicas, 1) {
			return fmt.Sprintf("ReplicaSet %s has %d of %d Pods", rs.Name, rs.Status.Replicas, ptrOr(rs.Spec.Replicas, 1))
		}
	}
	return ""
}

// releaseTree lays out deploy/k8s as it was at commit, read from the repository's history, with
// the same secret files as tree (an upgrade keeps its passwords).
func releaseTree(t *testing.T, tree, commit string) string {
	t.Helper()
	root := repoRoot(t)
	if out, err := exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("commit %s (the previous release of deploy/k8s, for the upgrade test) is not in this clone (%v %s): the test needs the repository's history; in a shallow clone run git fetch --unshallow", commit, err, out)
	}
	dst := t.TempDir()
	paths := []string{"deploy/k8s", "deploy/compose/secrets.sh"}
	// Since secrets-init, secrets.sh renders the Redis users from its template; before, it held them.
	if exec.Command("git", "-C", root, "cat-file", "-e", commit+":secrets-init/redis-users.acl").Run() == nil {
		paths = append(paths, "secrets-init/redis-users.acl")
	}
	cmd := exec.Command("git", append([]string{"-C", root, "archive", "--format=tar", commit}, paths...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := untar(stdout, dst); err != nil {
		t.Fatalf("git archive %s: %v", commit, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, stderr.String())
	}
	overlays, err := os.ReadDir(filepath.Join(dst, "deploy/k8s/overlays"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays {
		secrets := filepath.Join(tree, "deploy/k8s/overlays", o.Name(), "secrets")
		files, _ := filepath.Glob(filepath.Join(secrets, "*.txt"))
		for _, f := range files {
			copyFile(t, f, filepath.Join(dst, "deploy/k8s/overlays", o.Name(), "secrets", filepath.Base(f)))
		}
		// Any file the previous release needs and this one does not, made by its own script.
		if len(files) > 0 {
			cmd := exec.Command("bash", filepath.Join(dst, "deploy/k8s/secrets.sh"), o.Name())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s's deploy/k8s/secrets.sh %s: %v\n%s", commit, o.Name(), err, out)
			}
		}
	}
	return dst
}

func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		path := filepath.Join(dst, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, dst+string(filepath.Separator)) {
			return fmt.Errorf("%s: outside the tree", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
