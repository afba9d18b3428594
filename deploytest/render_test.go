package deploytest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// repoRoot is the repository root: this module's parent directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "k8s", "base", "kustomization.yaml")); err != nil {
		t.Fatalf("deploy/k8s/base not found from %s: run the tests from the deploytest module", root)
	}
	return root
}

// workTree lays out, in a temporary directory with the repository's paths, everything the
// kustomizations read, and writes each overlay's secret files with the project's own script
// (deploy/k8s/secrets.sh). Rendering so neither needs nor reads the secret files a developer may
// have generated in the working tree, and the script is tested on the way.
func workTree(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	dst := t.TempDir()
	for _, dir := range []string{"deploy/k8s", "deploytest/testdata"} {
		copyTree(t, filepath.Join(root, dir), filepath.Join(dst, dir))
	}
	// The script and the Redis users' template it renders.
	for _, f := range []string{"deploy/compose/secrets.sh", "secrets-init/redis-users.acl"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dst, f))
	}

	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("bash is needed to run deploy/k8s/secrets.sh: install it (apt-get install bash): %v", err)
	}
	overlays, err := os.ReadDir(filepath.Join(dst, "deploy/k8s/overlays"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays {
		k, err := os.ReadFile(filepath.Join(dst, "deploy/k8s/overlays", o.Name(), "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(k, []byte("\nsecretGenerator:")) {
			continue // built on another overlay, whose files it uses
		}
		cmd := exec.CommandContext(t.Context(), "bash", filepath.Join(dst, "deploy/k8s/secrets.sh"), o.Name())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("deploy/k8s/secrets.sh %s: %v\n%s", o.Name(), err, out)
		}
	}
	return dst
}

// copyTree copies the regular files below src, leaving out secret files (*.txt under secrets/).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if filepath.Base(filepath.Dir(path)) == "secrets" && strings.HasSuffix(path, ".txt") {
			return nil
		}
		copyFile(t, path, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// object is one rendered resource, decoded into its API type.
type object struct {
	kind, namespace, name string
	obj                   runtime.Object
	raw                   map[string]any // as kustomize wrote it, for sending to an API server
}

func (o object) String() string { return o.kind + "/" + o.name }

// manifest is the output of one kustomization.
type manifest struct {
	objects []object
}

// render builds the kustomization in dir as `kubectl apply -k` would (default options: files only
// from below the kustomization's own directory, no plugins) and decodes every object strictly.
func render(t *testing.T, dir string) *manifest {
	t.Helper()
	m, err := renderDir(dir)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return m
}

func renderDir(dir string) (*manifest, error) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	decoder, err := strictDecoder()
	if err != nil {
		return nil, err
	}
	m := &manifest{}
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		obj, gvk, err := decoder.Decode(y, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		raw, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		m.objects = append(m.objects, object{
			kind: gvk.Kind, namespace: r.GetNamespace(), name: r.GetName(), obj: obj, raw: raw,
		})
	}
	return m, nil
}

// strictDecoder decodes the API groups the manifests may use; an unknown or duplicated field, or
// a kind outside these groups, is an error.
func strictDecoder() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme, batchv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer(), nil
}

// objectsOf returns the manifest's objects of one API type.
func objectsOf[T runtime.Object](m *manifest) []T {
	var out []T
	for _, o := range m.objects {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// workload is a Deployment or StatefulSet, reduced to what the checks look at.
type workload struct {
	kind, namespace, name string
	replicas              *int32
	template              *corev1.PodTemplateSpec
	claims                []string // a StatefulSet's volumeClaimTemplates, volumes of its pods too
}

func (w workload) String() string { return w.kind + "/" + w.name }

// main returns the container named after the workload, or nil.
func (w workload) main() *corev1.Container {
	for i := range w.template.Spec.Containers {
		if w.template.Spec.Containers[i].Name == w.name {
			return &w.template.Spec.Containers[i]
		}
	}
	return nil
}

// containers returns the init containers and the containers.
func (w workload) containers() []*corev1.Container {
	var cs []*corev1.Container
	for i := range w.template.Spec.InitContainers {
		cs = append(cs, &w.template.Spec.InitContainers[i])
	}
	for i := range w.template.Spec.Containers {
		cs = append(cs, &w.template.Spec.Containers[i])
	}
	return cs
}

func (m *manifest) workloads() []workload {
	var ws []workload
	for _, o := range m.objects {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			ws = append(ws, workload{kind: "Deployment", namespace: v.Namespace, name: v.Name, replicas: v.Spec.Replicas, template: &v.Spec.Template})
		case *appsv1.StatefulSet:
			w := workload{kind: "StatefulSet", namespace: v.Namespace, name: v.Name, replicas: v.Spec.Replicas, template: &v.Spec.Template}
			for _, c := range v.Spec.VolumeClaimTemplates {
				w.claims = append(w.claims, c.Name)
			}
			ws = append(ws, w)
		case *appsv1.DaemonSet:
			ws = append(ws, workload{kind: "DaemonSet", namespace: v.Namespace, name: v.Name, template: &v.Spec.Template})
		case *batchv1.Job:
			ws = append(ws, workload{kind: "Job", namespace: v.Namespace, name: v.Name, template: &v.Spec.Template})
		case *batchv1.CronJob:
			ws = append(ws, workload{kind: "CronJob", namespace: v.Namespace, name: v.Name, template: &v.Spec.JobTemplate.Spec.Template})
		case *corev1.Pod:
			ws = append(ws, workload{kind: "Pod", namespace: v.Namespace, name: v.Name, template: &corev1.PodTemplateSpec{ObjectMeta: v.ObjectMeta, Spec: v.Spec}})
		}
	}
	return ws
}

func (m *manifest) workload(name string) (workload, bool) {
	for _, w := range m.workloads() {
		if w.name == name {
			return w, true
		}
	}
	return workload{}, false
}
