package deploytest

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// The workloads of the architecture, and the users their images run as.
var (
	goServices = []string{"vote", "worker", "result", "analyzer"}
	stores     = []string{"postgres", "redis"}
)

const (
	goUID    = 65532 // the distroless "nonroot" user of the Go services' images
	storeUID = 999   // the postgres and redis images' own users
	opsPort  = 9090  // /livez, /readyz, /metrics on every Go service
)

// expectations is what one overlay must render.
type expectations struct {
	namespace string
	// images maps each workload to the image of its main container (the one named after it).
	images map[string]string
	// pullPolicy, when set, is the imagePullPolicy every container must have.
	pullPolicy corev1.PullPolicy
	// managedData: Postgres and Redis are managed services outside the cluster, reached at
	// these addresses.
	managedData         bool
	postgresIP, redisIP string
}

// A check looks at a rendered overlay and returns what is wrong with it, one finding a line. The
// checks return findings instead of failing a test so that the broken fixtures can assert which
// check caught them.
type check struct {
	name string
	fn   func(*manifest, expectations) []string
}

var checks = []check{
	{"inventory", checkInventory},
	{"pod security", checkPodSecurity},
	{"probes", checkProbes},
	{"resources", checkResources},
	{"images", checkImages},
	{"references", checkReferences},
	{"network flows", checkNetworkFlows},
	{"availability", checkAvailability},
	{"vote limit", checkVoteLimit},
	{"durability", checkDurability},
}

// checkInventory: one namespace that enforces "restricted", holding everything; the workloads of
// the architecture and no others, of the right kinds.
func checkInventory(m *manifest, e expectations) []string {
	var out []string
	nss := objectsOf[*corev1.Namespace](m)
	if len(nss) != 1 {
		return []string{fmt.Sprintf("%d Namespaces, want 1", len(nss))}
	}
	ns := nss[0]
	if ns.Name != e.namespace {
		out = append(out, fmt.Sprintf("Namespace %s, want %s", ns.Name, e.namespace))
	}
	if got := ns.Labels[psaapi.EnforceLevelLabel]; got != string(psaapi.LevelRestricted) {
		out = append(out, fmt.Sprintf("Namespace %s: label %s is %q, want restricted", ns.Name, psaapi.EnforceLevelLabel, got))
	}
	for _, o := range m.objects {
		if o.kind != "Namespace" && o.namespace != ns.Name {
			out = append(out, fmt.Sprintf("%s is in namespace %q, not %s", o, o.namespace, ns.Name))
		}
	}

	want := map[string]string{}
	for _, s := range goServices {
		want[s] = "Deployment"
	}
	if !e.managedData {
		for _, s := range stores {
			want[s] = "StatefulSet"
		}
	}
	got := map[string]bool{}
	for _, w := range m.workloads() {
		got[w.name] = true
		switch kind, ok := want[w.name]; {
		case !ok:
			out = append(out, fmt.Sprintf("%s is not part of the architecture", w))
		case w.kind != kind:
			out = append(out, fmt.Sprintf("%s should be a %s", w, kind))
		}
	}
	for _, name := range sortedKeys(want) {
		if !got[name] {
			out = append(out, fmt.Sprintf("no %s %s", want[name], name))
		}
	}
	for _, s := range objectsOf[*appsv1.StatefulSet](m) {
		if len(s.Spec.VolumeClaimTemplates) == 0 {
			out = append(out, fmt.Sprintf("StatefulSet/%s has no volumeClaimTemplates: its data would not outlive the pod", s.Name))
		}
	}
	return out
}

// checkPodSecurity evaluates every pod template against the Pod Security Standard "restricted"
// with the admission controller's own checks, then adds the project's rules, which "restricted"
// leaves open: a numeric user and group (the expected ones), a read-only root file system, no
// service account token.
func checkPodSecurity(m *manifest, e expectations) []string {
	var out []string
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return []string{fmt.Sprintf("pod security evaluator: %v", err)}
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, w := range m.workloads() {
		for _, r := range evaluator.EvaluatePod(restricted, &w.template.ObjectMeta, &w.template.Spec) {
			if !r.Allowed {
				out = append(out, fmt.Sprintf("%s: restricted: %s (%s)", w, r.ForbiddenReason, r.ForbiddenDetail))
			}
		}
		spec := w.template.Spec
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			out = append(out, fmt.Sprintf("%s: automountServiceAccountToken is not false: the pod would get an API token it never uses", w))
		}
		var wantUID int64
		switch {
		case slices.Contains(goServices, w.name):
			wantUID = goUID
		case slices.Contains(stores, w.name):
			wantUID = storeUID
		}
		podSC := spec.SecurityContext
		if podSC == nil {
			podSC = &corev1.PodSecurityContext{}
		}
		for _, c := range w.containers() {
			uid, gid := podSC.RunAsUser, podSC.RunAsGroup
			if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
				uid = c.SecurityContext.RunAsUser
			}
			if c.SecurityContext != nil && c.SecurityContext.RunAsGroup != nil {
				gid = c.SecurityContext.RunAsGroup
			}
			switch {
			case uid == nil:
				out = append(out, fmt.Sprintf("%s: container %s: no numeric runAsUser", w, c.Name))
			case wantUID != 0 && *uid != wantUID:
				out = append(out, fmt.Sprintf("%s: container %s: runAsUser %d, want %d", w, c.Name, *uid, wantUID))
			}
			switch {
			case gid == nil:
				out = append(out, fmt.Sprintf("%s: container %s: no numeric runAsGroup", w, c.Name))
			case *gid == 0:
				out = append(out, fmt.Sprintf("%s: container %s: runAsGroup 0 (root's group)", w, c.Name))
			}
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				out = append(out, fmt.Sprintf("%s: container %s: readOnlyRootFilesystem is not true", w, c.Name))
			}
		}
	}
	return out
}

// checkProbes: the Go services have startup and liveness probes on /livez and a readiness probe
// on /readyz, all on the ops port; the stores have all three, of any kind.
func checkProbes(m *manifest, e expectations) []string {
	var out []string
	for _, w := range m.workloads() {
		c := w.main()
		if c == nil {
			out = append(out, fmt.Sprintf("%s: no container named %s", w, w.name))
			continue
		}
		probes := []struct {
			kind, path string
			p          *corev1.Probe
		}{
			{"startup", "/livez", c.StartupProbe},
			{"liveness", "/livez", c.LivenessProbe},
			{"readiness", "/readyz", c.ReadinessProbe},
		}
		for _, p := range probes {
			if p.p == nil {
				out = append(out, fmt.Sprintf("%s: no %s probe", w, p.kind))
				continue
			}
			if !slices.Contains(goServices, w.name) {
				continue
			}
			get := p.p.HTTPGet
			if get == nil {
				out = append(out, fmt.Sprintf("%s: %s probe is not an HTTP GET of %s", w, p.kind, p.path))
				continue
			}
			if get.Path != p.path {
				out = append(out, fmt.Sprintf("%s: %s probe path %s, want %s", w, p.kind, get.Path, p.path))
			}
			if port, ok := containerPort(c, get.Port); !ok {
				out = append(out, fmt.Sprintf("%s: %s probe port %s is not a port of the container", w, p.kind, get.Port.String()))
			} else if port != opsPort {
				out = append(out, fmt.Sprintf("%s: %s probe port %d, want the ops port %d", w, p.kind, port, opsPort))
			}
		}
	}
	return out
}

// containerPort resolves a port number or name against a container's ports.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// checkResources: CPU and memory requests and limits on every container, requests within limits,
// memory-backed emptyDirs bounded (they count against the memory limit), and GOMEMLIMIT, where it
// is set by hand, below the memory limit. Where it is not set, the binaries set it to 90% of the
// limit themselves (platform/app), which is why the limit must be there.
func checkResources(m *manifest, e expectations) []string {
	var out []string
	for _, w := range m.workloads() {
		for _, c := range w.containers() {
			for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[name]
				lim, hasLim := c.Resources.Limits[name]
				if !hasReq {
					out = append(out, fmt.Sprintf("%s: container %s: no %s request", w, c.Name, name))
				}
				if !hasLim {
					out = append(out, fmt.Sprintf("%s: container %s: no %s limit", w, c.Name, name))
				}
				if hasReq && hasLim && req.Cmp(lim) > 0 {
					out = append(out, fmt.Sprintf("%s: container %s: %s request %s above its limit %s", w, c.Name, name, req.String(), lim.String()))
				}
			}
			for _, env := range c.Env {
				if env.Name != "GOMEMLIMIT" {
					continue
				}
				if env.ValueFrom != nil {
					out = append(out, fmt.Sprintf("%s: container %s: GOMEMLIMIT from valueFrom: the downward API gives a bare number (bytes, the whole limit); set a value with a unit below the limit, or leave it to the binary", w, c.Name))
					continue
				}
				v, err := parseGoMemLimit(env.Value)
				if err != nil {
					out = append(out, fmt.Sprintf("%s: container %s: GOMEMLIMIT=%s: %v", w, c.Name, env.Value, err))
					continue
				}
				lim, ok := c.Resources.Limits[corev1.ResourceMemory]
				if ok && float64(v) > 0.95*float64(lim.Value()) {
					out = append(out, fmt.Sprintf("%s: container %s: GOMEMLIMIT=%s leaves less than 5%% of the memory limit %s for everything else", w, c.Name, env.Value, lim.String()))
				}
			}
		}
		for _, v := range w.template.Spec.Volumes {
			if v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory && v.EmptyDir.SizeLimit == nil {
				out = append(out, fmt.Sprintf("%s: memory-backed emptyDir %s has no sizeLimit", w, v.Name))
			}
		}
	}
	return out
}

// parseGoMemLimit reads GOMEMLIMIT as the Go runtime does: bytes with an optional B, KiB, MiB,
// GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size in bytes with a unit of B, KiB, MiB, GiB or TiB")
	}
	return n * mult, nil
}

// checkImages: each workload's main container runs the overlay's image for it, every other
// container one of the overlay's images; no :latest, no untagged image; the pull policy the
// overlay asks for.
func checkImages(m *manifest, e expectations) []string {
	var out []string
	allowed := map[string]bool{}
	for _, img := range e.images {
		allowed[img] = true
	}
	for _, w := range m.workloads() {
		if c := w.main(); c != nil && e.images[w.name] != "" && c.Image != e.images[w.name] {
			out = append(out, fmt.Sprintf("%s: image %s, want %s", w, c.Image, e.images[w.name]))
		}
		for _, c := range w.containers() {
			if !allowed[c.Image] {
				out = append(out, fmt.Sprintf("%s: container %s: image %s is none of the overlay's images", w, c.Name, c.Image))
			}
			name, tag, digest := splitImage(c.Image)
			switch {
			case tag == "latest":
				out = append(out, fmt.Sprintf("%s: container %s: image %s: the tag latest names no particular build", w, c.Name, c.Image))
			case tag == "" && digest == "":
				out = append(out, fmt.Sprintf("%s: container %s: image %s has neither tag nor digest", w, c.Name, name))
			}
			if e.pullPolicy != "" && c.ImagePullPolicy != e.pullPolicy {
				out = append(out, fmt.Sprintf("%s: container %s: imagePullPolicy %q, want %s", w, c.Name, c.ImagePullPolicy, e.pullPolicy))
			}
		}
	}
	return out
}

// splitImage splits an image reference into name, tag and digest.
func splitImage(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// checkReferences: everything a pod, Service, Ingress, autoscaler, disruption budget or policy
// names exists: ConfigMaps, Secrets and their keys, the files *_FILE variables point at, volumes,
// Services and their ports, the pods selectors are meant to select.
func checkReferences(m *manifest, e expectations) []string {
	var out []string
	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range objectsOf[*corev1.ConfigMap](m) {
		configMaps[cm.Name] = cm
	}
	secrets := map[string]*corev1.Secret{}
	for _, s := range objectsOf[*corev1.Secret](m) {
		secrets[s.Name] = s
	}
	services := map[string]*corev1.Service{}
	for _, s := range objectsOf[*corev1.Service](m) {
		services[s.Name] = s
	}
	workloads := m.workloads()

	for _, w := range workloads {
		spec := w.template.Spec
		volumes := map[string]corev1.Volume{}
		for _, c := range w.claims {
			volumes[c] = corev1.Volume{Name: c}
		}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			switch {
			case v.Secret != nil:
				s, ok := secrets[v.Secret.SecretName]
				if !ok {
					out = append(out, fmt.Sprintf("%s: volume %s: no Secret %s", w, v.Name, v.Secret.SecretName))
					continue
				}
				for _, it := range v.Secret.Items {
					if !secretHas(s, it.Key) {
						out = append(out, fmt.Sprintf("%s: volume %s: Secret %s has no key %s", w, v.Name, s.Name, it.Key))
					}
				}
			case v.ConfigMap != nil:
				cm, ok := configMaps[v.ConfigMap.Name]
				if !ok {
					out = append(out, fmt.Sprintf("%s: volume %s: no ConfigMap %s", w, v.Name, v.ConfigMap.Name))
					continue
				}
				for _, it := range v.ConfigMap.Items {
					if _, ok := cm.Data[it.Key]; !ok {
						out = append(out, fmt.Sprintf("%s: volume %s: ConfigMap %s has no key %s", w, v.Name, cm.Name, it.Key))
					}
				}
			}
		}
		for _, c := range w.containers() {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && configMaps[ef.ConfigMapRef.Name] == nil {
					out = append(out, fmt.Sprintf("%s: container %s: envFrom: no ConfigMap %s", w, c.Name, ef.ConfigMapRef.Name))
				}
				if ef.SecretRef != nil && secrets[ef.SecretRef.Name] == nil {
					out = append(out, fmt.Sprintf("%s: container %s: envFrom: no Secret %s", w, c.Name, ef.SecretRef.Name))
				}
			}
			for _, vm := range c.VolumeMounts {
				if _, ok := volumes[vm.Name]; !ok {
					out = append(out, fmt.Sprintf("%s: container %s: mounts %s, which is not a volume of the pod", w, c.Name, vm.Name))
				}
			}
			for _, env := range c.Env {
				if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
					ref := env.ValueFrom.SecretKeyRef
					if s, ok := secrets[ref.Name]; !ok || !secretHas(s, ref.Key) {
						out = append(out, fmt.Sprintf("%s: container %s: %s: no key %s in Secret %s", w, c.Name, env.Name, ref.Key, ref.Name))
					}
				}
				if strings.HasSuffix(env.Name, "_FILE") && env.Value != "" {
					if msg := fileProvided(env.Value, c, volumes, secrets, configMaps); msg != "" {
						out = append(out, fmt.Sprintf("%s: container %s: %s=%s: %s", w, c.Name, env.Name, env.Value, msg))
					}
				}
			}
		}
	}

	for _, s := range objectsOf[*appsv1.StatefulSet](m) {
		if services[s.Spec.ServiceName] == nil {
			out = append(out, fmt.Sprintf("StatefulSet/%s: serviceName %s is no Service", s.Name, s.Spec.ServiceName))
		}
	}
	for _, svc := range services {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var selected []workload
		for _, w := range workloads {
			if len(svc.Spec.Selector) > 0 && sel.Matches(labels.Set(w.template.Labels)) {
				selected = append(selected, w)
			}
		}
		if len(selected) == 0 {
			out = append(out, fmt.Sprintf("Service/%s selects no pod", svc.Name))
			continue
		}
		for _, p := range svc.Spec.Ports {
			for _, w := range selected {
				if !podHasPort(w, p.TargetPort) {
					out = append(out, fmt.Sprintf("Service/%s: port %s: targetPort %s is no port of %s", svc.Name, p.Name, p.TargetPort.String(), w))
				}
			}
		}
	}
	for _, ing := range objectsOf[*networkingv1.Ingress](m) {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				if b == nil {
					continue
				}
				svc, ok := services[b.Name]
				if !ok {
					out = append(out, fmt.Sprintf("Ingress/%s: %s%s: no Service %s", ing.Name, rule.Host, p.Path, b.Name))
					continue
				}
				if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
					return (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Name == "" && sp.Port == b.Port.Number)
				}) {
					out = append(out, fmt.Sprintf("Ingress/%s: %s%s: Service %s has no port %s%d", ing.Name, rule.Host, p.Path, b.Name, b.Port.Name, b.Port.Number))
				}
			}
		}
	}
	for _, h := range objectsOf[*autoscalingv2.HorizontalPodAutoscaler](m) {
		ref := h.Spec.ScaleTargetRef
		if !slices.ContainsFunc(workloads, func(w workload) bool { return w.kind == ref.Kind && w.name == ref.Name }) {
			out = append(out, fmt.Sprintf("HorizontalPodAutoscaler/%s: scales %s/%s, which does not exist", h.Name, ref.Kind, ref.Name))
		}
	}
	for _, p := range objectsOf[*policyv1.PodDisruptionBudget](m) {
		if len(selectedBy(p.Spec.Selector, workloads)) == 0 {
			out = append(out, fmt.Sprintf("PodDisruptionBudget/%s selects no pod", p.Name))
		}
	}
	for _, np := range objectsOf[*networkingv1.NetworkPolicy](m) {
		if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) > 0 &&
			len(selectedBy(&np.Spec.PodSelector, workloads)) == 0 {
			out = append(out, fmt.Sprintf("NetworkPolicy/%s selects no pod", np.Name))
		}
	}
	return out
}

func secretHas(s *corev1.Secret, key string) bool {
	_, inData := s.Data[key]
	_, inString := s.StringData[key]
	return inData || inString
}

// fileProvided says what is wrong with a *_FILE path ("" when the file is there): it must lie in
// a mounted Secret or ConfigMap volume that has it.
func fileProvided(file string, c *corev1.Container, volumes map[string]corev1.Volume, secrets map[string]*corev1.Secret, configMaps map[string]*corev1.ConfigMap) string {
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok {
			continue
		}
		v := volumes[vm.Name]
		switch {
		case v.Secret != nil:
			s := secrets[v.Secret.SecretName]
			if s == nil {
				return "" // reported with the volume
			}
			if key, ok := volumeKey(rel, v.Secret.Items); !ok || !secretHas(s, key) {
				return fmt.Sprintf("Secret %s (mounted at %s) has no file %s", s.Name, vm.MountPath, rel)
			}
			return ""
		case v.ConfigMap != nil:
			cm := configMaps[v.ConfigMap.Name]
			if cm == nil {
				return ""
			}
			if key, ok := volumeKey(rel, v.ConfigMap.Items); !ok || cm.Data[key] == "" && cm.BinaryData[key] == nil {
				return fmt.Sprintf("ConfigMap %s (mounted at %s) has no file %s", cm.Name, vm.MountPath, rel)
			}
			return ""
		default:
			return fmt.Sprintf("%s is mounted from volume %s, which holds no secret", vm.MountPath, vm.Name)
		}
	}
	return fmt.Sprintf("no volume is mounted at %s", path.Dir(file))
}

// volumeKey maps a file name in a Secret or ConfigMap volume back to its key.
func volumeKey(file string, items []corev1.KeyToPath) (string, bool) {
	if len(items) == 0 {
		return file, true
	}
	for _, it := range items {
		if it.Path == file {
			return it.Key, true
		}
	}
	return "", false
}

func podHasPort(w workload, p intstr.IntOrString) bool {
	for _, c := range w.template.Spec.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return true
			}
		}
	}
	return false
}

func selectedBy(sel *metav1.LabelSelector, ws []workload) []workload {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil
	}
	var out []workload
	for _, w := range ws {
		if s.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// checkAvailability: vote, worker and result run at least two replicas and may lose one to a
// voluntary disruption at a time (PodDisruptionBudget); vote and worker scale with an autoscaler
// (autoscaling/v2) that owns their replica count.
func checkAvailability(m *manifest, e expectations) []string {
	var out []string
	workloads := m.workloads()
	pdbs := objectsOf[*policyv1.PodDisruptionBudget](m)
	hpas := objectsOf[*autoscalingv2.HorizontalPodAutoscaler](m)
	minReplicas := map[string]int32{}
	for _, name := range []string{"vote", "worker"} {
		i := slices.IndexFunc(hpas, func(h *autoscalingv2.HorizontalPodAutoscaler) bool {
			return h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == name
		})
		if i < 0 {
			out = append(out, fmt.Sprintf("no HorizontalPodAutoscaler (autoscaling/v2) scales Deployment/%s", name))
			continue
		}
		h := hpas[i]
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			out = append(out, fmt.Sprintf("HorizontalPodAutoscaler/%s: minReplicas below 2", h.Name))
		} else {
			minReplicas[name] = *h.Spec.MinReplicas
		}
		if h.Spec.MaxReplicas <= ptrOr(h.Spec.MinReplicas, 1) || len(h.Spec.Metrics) == 0 {
			out = append(out, fmt.Sprintf("HorizontalPodAutoscaler/%s: no room to scale (maxReplicas %d, %d metrics)", h.Name, h.Spec.MaxReplicas, len(h.Spec.Metrics)))
		}
		if w, ok := m.workload(name); ok && w.replicas != nil {
			out = append(out, fmt.Sprintf("%s sets replicas although an autoscaler owns the count: every apply would reset it", w))
		}
	}
	if w, ok := m.workload("result"); ok {
		if n := ptrOr(w.replicas, 1); n < 2 {
			out = append(out, fmt.Sprintf("%s runs %d replica, want at least 2", w, n))
		} else {
			minReplicas["result"] = n
		}
	}
	for _, name := range []string{"vote", "worker", "result"} {
		w, ok := m.workload(name)
		if !ok {
			continue
		}
		var covering []*policyv1.PodDisruptionBudget
		for _, p := range pdbs {
			if slices.ContainsFunc(selectedBy(p.Spec.Selector, workloads), func(s workload) bool { return s.name == name }) {
				covering = append(covering, p)
			}
		}
		if len(covering) != 1 {
			out = append(out, fmt.Sprintf("%s is covered by %d PodDisruptionBudgets, want 1", w, len(covering)))
			continue
		}
		p := covering[0]
		switch {
		case p.Spec.MaxUnavailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MaxUnavailable, int(minReplicas[name]), true)
			if err != nil || n < 1 {
				out = append(out, fmt.Sprintf("PodDisruptionBudget/%s: maxUnavailable %s lets no pod go: nodes could not be drained", p.Name, p.Spec.MaxUnavailable.String()))
			}
		case p.Spec.MinAvailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MinAvailable, int(minReplicas[name]), true)
			if err != nil || n >= int(minReplicas[name]) {
				out = append(out, fmt.Sprintf("PodDisruptionBudget/%s: minAvailable %s lets no pod go: nodes could not be drained", p.Name, p.Spec.MinAvailable.String()))
			}
		}
	}
	return out
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Bounds of a person's vote rate (vote's VOTE_RATE_LIMIT, VOTE_RATE_BURST): above them the limit
// is a flood guard, not a per-voter limit.
const (
	maxVoteRate  = 10
	maxVoteBurst = 100
)

// podNetworks are the ranges pod addresses come from in the usual CNIs: RFC 1918, the shared
// address space of RFC 6598 and IPv6 unique local addresses.
var podNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// checkVoteLimit: where an Ingress routes to vote, vote counts votes per voter, not per ingress
// controller pod. Every request through the Ingress comes from a controller pod, so vote must
// trust pod addresses (TRUSTED_PROXIES) to take the client from X-Real-IP, the header
// ingress-nginx always sets to the address it received the request from; and the limit must be a
// person's (VOTE_RATE_LIMIT, VOTE_RATE_BURST), not the service's flood-guard default. Without
// TRUSTED_PROXIES every voter behind the Ingress shares one bucket.
func checkVoteLimit(m *manifest, e expectations) []string {
	routed := ""
	for _, ing := range objectsOf[*networkingv1.Ingress](m) {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service != nil && p.Backend.Service.Name == "vote" {
					routed = "Ingress/" + ing.Name
				}
			}
		}
	}
	if routed == "" {
		return nil
	}
	w, ok := m.workload("vote")
	if !ok || w.main() == nil {
		return nil // the inventory check reports it
	}
	env := containerEnv(m, w.main())
	var out []string
	finding := func(format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: behind %s: ", w, routed)+fmt.Sprintf(format, args...))
	}

	switch proxies, ok := env["TRUSTED_PROXIES"]; {
	case !ok || strings.TrimSpace(proxies) == "":
		finding("TRUSTED_PROXIES is not set: every voter's connection comes from the ingress controller, so all share one rate-limit bucket")
	default:
		for s := range strings.SplitSeq(proxies, ",") {
			s = strings.TrimSpace(s)
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					finding("TRUSTED_PROXIES: %q is neither an address nor a CIDR prefix", s)
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if !slices.ContainsFunc(podNetworks, func(n netip.Prefix) bool { return n.Bits() <= p.Bits() && n.Contains(p.Addr()) }) {
				finding("TRUSTED_PROXIES: %s is not within the pod networks %v: any client there could name its own address", s, podNetworks)
			}
		}
	}
	if h := env["CLIENT_IP_HEADER"]; !strings.EqualFold(h, "X-Real-IP") {
		finding("CLIENT_IP_HEADER is %q, want X-Real-IP: ingress-nginx sets it to the address it received the request from, replacing any the client sent; X-Forwarded-For carries what the client wrote once the controller trusts forwarded headers", h)
	}
	for _, l := range []struct {
		name string
		max  int
	}{{"VOTE_RATE_LIMIT", maxVoteRate}, {"VOTE_RATE_BURST", maxVoteBurst}} {
		v, ok := env[l.name]
		if !ok {
			finding("%s is not set: the service's default is a flood guard, not a person's rate", l.name)
			continue
		}
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			finding("%s=%q is not a number", l.name, v)
		case n < 1:
			finding("%s=%d turns the limit off", l.name, n)
		case n > l.max:
			finding("%s=%d is above a person's %d", l.name, n, l.max)
		}
	}
	return out
}

// containerEnv returns the variables a container gets from literal values and from the
// manifest's ConfigMaps (envFrom), as the kubelet sets them: env wins over envFrom.
func containerEnv(m *manifest, c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		for _, cm := range objectsOf[*corev1.ConfigMap](m) {
			if cm.Name == ef.ConfigMapRef.Name {
				for k, v := range cm.Data {
					env[ef.Prefix+k] = v
				}
			}
		}
	}
	for _, v := range c.Env {
		if v.ValueFrom == nil {
			env[v.Name] = v.Value
		}
	}
	return env
}

// redisDurable: the options without which Redis can answer a vote it then loses. A voter is told
// "cast" after RPUSH returns; with appendfsync everysec (Redis's default) a crash can lose the last
// second of those, and any eviction policy but noeviction drops the inbox or the stream when
// memory is full.
var redisDurable = map[string]string{
	"appendonly":       "yes",
	"appendfsync":      "always",
	"maxmemory-policy": "noeviction",
}

// postgresDurable: settings that would let Postgres acknowledge a commit it has not written; the
// worker acknowledges votes in Redis after the commit, so such a commit loses them.
var postgresDurable = map[string]string{
	"fsync":              "on",
	"synchronous_commit": "on",
	"full_page_writes":   "on",
}

// checkDurability: Redis and Postgres run with the settings that make an acknowledgement mean the
// data is on disk. Managed stores are outside the manifests.
func checkDurability(m *manifest, e expectations) []string {
	if e.managedData {
		return nil
	}
	var out []string
	if w, ok := m.workload("redis"); ok && w.main() != nil {
		c := w.main()
		opts := redisOptions(append(slices.Clone(c.Command), c.Args...))
		for _, k := range sortedKeys(redisDurable) {
			switch got, set := opts[k]; {
			case !set:
				out = append(out, fmt.Sprintf("%s: --%s is not set (Redis's default is not %s)", w, k, redisDurable[k]))
			case got != redisDurable[k]:
				out = append(out, fmt.Sprintf("%s: --%s %s, want %s", w, k, got, redisDurable[k]))
			}
		}
	}
	if w, ok := m.workload("postgres"); ok && w.main() != nil {
		c := w.main()
		settings := postgresSettings(append(slices.Clone(c.Command), c.Args...))
		for _, k := range sortedKeys(postgresDurable) {
			if got, set := settings[k]; set && got != postgresDurable[k] {
				out = append(out, fmt.Sprintf("%s: -c %s=%s, want %s (the default)", w, k, got, postgresDurable[k]))
			}
		}
	}
	return out
}

// redisOptions reads redis-server's command line: "--name value" pairs after the program (and an
// optional config file).
func redisOptions(argv []string) map[string]string {
	opts := map[string]string{}
	for i := 0; i < len(argv); i++ {
		name, ok := strings.CutPrefix(argv[i], "--")
		if !ok {
			continue
		}
		var value string
		if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "--") {
			i++
			value = argv[i]
		}
		opts[strings.ToLower(name)] = strings.ToLower(value)
	}
	return opts
}

// postgresSettings reads postgres's "-c name=value" and "--name=value" options.
func postgresSettings(argv []string) map[string]string {
	settings := map[string]string{}
	for i := 0; i < len(argv); i++ {
		var kv string
		switch {
		case argv[i] == "-c" && i+1 < len(argv):
			i++
			kv = argv[i]
		case strings.HasPrefix(argv[i], "--"):
			kv = argv[i][2:]
		default:
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			settings[strings.ReplaceAll(strings.ToLower(k), "-", "_")] = strings.ToLower(v)
		}
	}
	return settings
}
