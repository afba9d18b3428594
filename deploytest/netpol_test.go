package deploytest

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// endpoint is something that sends or receives traffic: a pod (of a workload, or one that stands
// for a kind of pod elsewhere in the cluster) or an address outside the cluster.
type endpoint struct {
	name      string
	namespace string            // "" outside the cluster
	nsLabels  map[string]string // the namespace's labels
	labels    map[string]string // the pod's labels
	addr      netip.Addr        // outside the cluster only
	ports     []corev1.ContainerPort
}

func (e endpoint) inCluster() bool { return e.namespace != "" }

// flow is one allowed connection: from an endpoint to a port of another.
type flow struct {
	from, to string
	port     int32
	protocol corev1.Protocol
}

func (f flow) String() string {
	return fmt.Sprintf("%s → %s:%d/%s", f.from, f.to, f.port, f.protocol)
}

// network evaluates NetworkPolicies as the API defines them: a pod that no policy selects for a
// direction is open in that direction; one that some policy selects allows only what the rules of
// the policies selecting it allow, summed up. A connection needs the sender's egress and the
// receiver's ingress.
type network struct {
	policies []*networkingv1.NetworkPolicy
}

// allows reports whether src may open a connection to port of dst.
func (n network) allows(src, dst endpoint, port corev1.ContainerPort) bool {
	return n.permits(src, networkingv1.PolicyTypeEgress, dst, port) &&
		n.permits(dst, networkingv1.PolicyTypeIngress, src, port)
}

// permits reports whether the policies of pod let traffic in direction dir pass with peer, on
// port, a port of the receiving side.
func (n network) permits(pod endpoint, dir networkingv1.PolicyType, peer endpoint, port corev1.ContainerPort) bool {
	if !pod.inCluster() {
		return true // not subject to any policy
	}
	selected := false
	for _, p := range n.policies {
		if p.Namespace != pod.namespace || !policyTypes(p).has(dir) || !matches(&p.Spec.PodSelector, pod.labels) {
			continue
		}
		selected = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range p.Spec.Ingress {
				if peersMatch(r.From, p.Namespace, peer) && portsMatch(r.Ports, port) {
					return true
				}
			}
		} else {
			for _, r := range p.Spec.Egress {
				if peersMatch(r.To, p.Namespace, peer) && portsMatch(r.Ports, port) {
					return true
				}
			}
		}
	}
	return !selected
}

type typeSet []networkingv1.PolicyType

func (s typeSet) has(t networkingv1.PolicyType) bool { return slices.Contains(s, t) }

// policyTypes applies the API's default: Ingress always, Egress when the policy has egress rules.
func policyTypes(p *networkingv1.NetworkPolicy) typeSet {
	if len(p.Spec.PolicyTypes) > 0 {
		return typeSet(p.Spec.PolicyTypes)
	}
	ts := typeSet{networkingv1.PolicyTypeIngress}
	if len(p.Spec.Egress) > 0 {
		ts = append(ts, networkingv1.PolicyTypeEgress)
	}
	return ts
}

// peersMatch: no peers means every peer. A podSelector alone selects in the policy's namespace; a
// namespaceSelector selects namespaces, narrowed by a podSelector beside it (both must match);
// an ipBlock matches addresses outside the cluster (pod addresses are not known here, and
// implementations differ on whether ipBlock applies to them).
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNamespace string, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			if !e.inCluster() && inBlock(p.IPBlock, e.addr) {
				return true
			}
		case p.NamespaceSelector != nil:
			if e.inCluster() && matches(p.NamespaceSelector, e.nsLabels) &&
				(p.PodSelector == nil || matches(p.PodSelector, e.labels)) {
				return true
			}
		case p.PodSelector != nil:
			if e.namespace == policyNamespace && matches(p.PodSelector, e.labels) {
				return true
			}
		}
	}
	return false
}

func inBlock(b *networkingv1.IPBlock, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	prefix, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !prefix.Contains(addr) {
		return false
	}
	for _, ex := range b.Except {
		if p, err := netip.ParsePrefix(ex); err == nil && p.Contains(addr) {
			return false
		}
	}
	return true
}

// portsMatch: no ports means every port; a named port matches the receiving container's port of
// that name; endPort makes a range.
func portsMatch(ports []networkingv1.NetworkPolicyPort, port corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	received := port.Protocol
	if received == "" {
		received = corev1.ProtocolTCP
	}
	for _, p := range ports {
		if ptrOr(p.Protocol, corev1.ProtocolTCP) != received {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			if p.Port.StrVal == port.Name {
				return true
			}
		case p.EndPort != nil:
			if port.ContainerPort >= p.Port.IntVal && port.ContainerPort <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == port.ContainerPort:
			return true
		}
	}
	return false
}

func matches(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(set))
}

// Endpoints outside the application that the flows are checked against.
const (
	ingressController = "ingress-nginx"
	dns               = "kube-system/kube-dns"
	prometheus        = "monitoring/prometheus"
	stranger          = "stranger" // another pod in the application's namespace
	elsewhere         = "default/other"
	internet          = "internet"
	managedPostgres   = "managed-postgres"
	managedRedis      = "managed-redis"
)

func tcp(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
}

func nsLabels(name string, extra map[string]string) map[string]string {
	m := map[string]string{"kubernetes.io/metadata.name": name}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// endpoints returns the workloads of the manifest and the endpoints around them.
func endpoints(m *manifest, e expectations) []endpoint {
	var appNS map[string]string
	for _, ns := range objectsOf[*corev1.Namespace](m) {
		appNS = nsLabels(ns.Name, ns.Labels)
	}
	var eps []endpoint
	for _, w := range m.workloads() {
		ep := endpoint{name: w.namespace + "/" + w.name, namespace: w.namespace, nsLabels: appNS, labels: w.template.Labels}
		for _, c := range w.template.Spec.Containers {
			for _, p := range c.Ports {
				if p.Protocol == "" {
					p.Protocol = corev1.ProtocolTCP
				}
				ep.ports = append(ep.ports, p)
			}
		}
		eps = append(eps, ep)
	}
	eps = append(eps,
		endpoint{name: ingressController, namespace: "ingress-nginx", nsLabels: nsLabels("ingress-nginx", nil),
			labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}, ports: []corev1.ContainerPort{tcp("http", 80), tcp("https", 443)}},
		endpoint{name: dns, namespace: "kube-system", nsLabels: nsLabels("kube-system", nil),
			labels: map[string]string{"k8s-app": "kube-dns"},
			ports:  []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, tcp("dns-tcp", 53)}},
		endpoint{name: prometheus, namespace: "monitoring", nsLabels: nsLabels("monitoring", nil),
			labels: map[string]string{"app.kubernetes.io/name": "prometheus"}, ports: []corev1.ContainerPort{tcp("web", 9090)}},
		endpoint{name: stranger, namespace: e.namespace, nsLabels: appNS,
			labels: map[string]string{"run": "debug"}, ports: []corev1.ContainerPort{tcp("http", 8080)}},
		endpoint{name: elsewhere, namespace: "default", nsLabels: nsLabels("default", nil),
			labels: map[string]string{"app": "other"}, ports: []corev1.ContainerPort{tcp("http", 8080)}},
		endpoint{name: internet, addr: netip.MustParseAddr("203.0.113.7"), ports: []corev1.ContainerPort{tcp("https", 443), tcp("postgres", 5432), tcp("redis", 6379)}},
	)
	if e.managedData {
		eps = append(eps,
			endpoint{name: managedPostgres, addr: netip.MustParseAddr(e.postgresIP), ports: []corev1.ContainerPort{tcp("postgres", 5432)}},
			endpoint{name: managedRedis, addr: netip.MustParseAddr(e.redisIP), ports: []corev1.ContainerPort{tcp("redis", 6379)}},
		)
	}
	return eps
}

// allowedFlows lists every connection the policies allow between the endpoints, leaving out
// those between two endpoints outside the application's namespace (not these policies' business)
// and a pod's connections to its own workload.
func allowedFlows(n network, eps []endpoint, namespace string) []flow {
	var out []flow
	for _, src := range eps {
		for _, dst := range eps {
			if src.name == dst.name || (src.namespace != namespace && dst.namespace != namespace) {
				continue
			}
			for _, p := range dst.ports {
				if n.allows(src, dst, p) {
					out = append(out, flow{src.name, dst.name, p.ContainerPort, p.Protocol})
				}
			}
		}
	}
	return out
}

// architectureFlows are the connections the architecture needs, and no others.
func architectureFlows(m *manifest, e expectations) []flow {
	ns := e.namespace + "/"
	postgres, redis := ns+"postgres", ns+"redis"
	if e.managedData {
		postgres, redis = managedPostgres, managedRedis
	}
	want := []flow{
		{ingressController, ns + "vote", 8080, corev1.ProtocolTCP},
		{ingressController, ns + "result", 8081, corev1.ProtocolTCP},
		{ingressController, ns + "analyzer", 8082, corev1.ProtocolTCP},
		{ns + "vote", redis, 6379, corev1.ProtocolTCP},
		{ns + "worker", redis, 6379, corev1.ProtocolTCP},
		{ns + "worker", postgres, 5432, corev1.ProtocolTCP},
		{ns + "result", postgres, 5432, corev1.ProtocolTCP},
		{ns + "analyzer", postgres, 5432, corev1.ProtocolTCP},
	}
	for _, s := range goServices {
		want = append(want, flow{prometheus, ns + s, opsPort, corev1.ProtocolTCP})
	}
	// Every pod of the namespace may ask the cluster's DNS, over UDP and TCP.
	var pods []string
	for _, w := range m.workloads() {
		pods = append(pods, ns+w.name)
	}
	for _, p := range append(pods, stranger) {
		want = append(want, flow{p, dns, 53, corev1.ProtocolUDP}, flow{p, dns, 53, corev1.ProtocolTCP})
	}
	return want
}

// checkNetworkFlows compares the flows the NetworkPolicies allow with the architecture's.
func checkNetworkFlows(m *manifest, e expectations) []string {
	n := network{policies: objectsOf[*networkingv1.NetworkPolicy](m)}
	got := allowedFlows(n, endpoints(m, e), e.namespace)
	want := architectureFlows(m, e)
	var out []string
	for _, f := range got {
		if !slices.Contains(want, f) {
			out = append(out, fmt.Sprintf("allowed, but not a flow of the architecture: %s", f))
		}
	}
	for _, f := range want {
		if !slices.Contains(got, f) {
			out = append(out, fmt.Sprintf("a flow of the architecture is denied: %s", f))
		}
	}
	slices.Sort(out)
	return out
}

// TestNetworkEvaluation checks the evaluator itself on small cases where the answer is known from
// the API's definition.
func TestNetworkEvaluation(t *testing.T) {
	app := nsLabels("app", nil)
	web := endpoint{name: "web", namespace: "app", nsLabels: app, labels: map[string]string{"role": "web"},
		ports: []corev1.ContainerPort{tcp("http", 8080), tcp("ops", 9090)}}
	db := endpoint{name: "db", namespace: "app", nsLabels: app, labels: map[string]string{"role": "db"},
		ports: []corev1.ContainerPort{tcp("pg", 5432)}}
	monitor := endpoint{name: "monitor", namespace: "mon", nsLabels: nsLabels("mon", map[string]string{"team": "ops"}),
		labels: map[string]string{"role": "scraper"}}
	monitorOther := endpoint{name: "monitor-other", namespace: "mon", nsLabels: monitor.nsLabels, labels: map[string]string{"role": "shell"}}
	outside := endpoint{name: "outside", addr: netip.MustParseAddr("192.0.2.10"), ports: []corev1.ContainerPort{tcp("https", 443)}}
	outsideExcept := endpoint{name: "outside-except", addr: netip.MustParseAddr("192.0.2.200"), ports: []corev1.ContainerPort{tcp("https", 443)}}

	np := func(name string, sel map[string]string, types []networkingv1.PolicyType, in []networkingv1.NetworkPolicyIngressRule, eg []networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
		p := &networkingv1.NetworkPolicy{}
		p.Name, p.Namespace = name, "app"
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: sel}
		p.Spec.PolicyTypes, p.Spec.Ingress, p.Spec.Egress = types, in, eg
		return p
	}
	udp := corev1.ProtocolUDP
	port := func(p intstr.IntOrString) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Port: &p}}
	}
	denyAll := np("deny", nil, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, nil, nil)
	end := int32(9100)

	tests := []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		src, dst endpoint
		port     corev1.ContainerPort
		want     bool
	}{
		{"no policy: open", nil, web, db, db.ports[0], true},
		{"default deny", []*networkingv1.NetworkPolicy{denyAll}, web, db, db.ports[0], false},
		{"ingress only policy leaves egress open", []*networkingv1.NetworkPolicy{
			np("db-in", map[string]string{"role": "db"}, nil, []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "web"}}}},
			}}, nil),
		}, web, db, db.ports[0], true},
		{"egress allowed but ingress denied", []*networkingv1.NetworkPolicy{denyAll,
			np("web-out", map[string]string{"role": "web"}, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, nil,
				[]networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "db"}}}}}}),
		}, web, db, db.ports[0], false},
		{"named port matches the receiver's port name", []*networkingv1.NetworkPolicy{
			np("web-in", map[string]string{"role": "web"}, nil, []networkingv1.NetworkPolicyIngressRule{{Ports: port(intstr.FromString("ops"))}}, nil),
		}, monitor, web, web.ports[1], true},
		{"named port does not match another port", []*networkingv1.NetworkPolicy{
			np("web-in", map[string]string{"role": "web"}, nil, []networkingv1.NetworkPolicyIngressRule{{Ports: port(intstr.FromString("ops"))}}, nil),
		}, monitor, web, web.ports[0], false},
		{"port range", []*networkingv1.NetworkPolicy{
			np("web-in", map[string]string{"role": "web"}, nil, []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(9000)), EndPort: &end}},
			}}, nil),
		}, monitor, web, web.ports[1], true},
		{"protocol must match", []*networkingv1.NetworkPolicy{
			np("web-in", map[string]string{"role": "web"}, nil, []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: ptr(intstr.FromInt32(8080))}},
			}}, nil),
		}, monitor, web, web.ports[0], false},
		{"namespaceSelector and podSelector in one peer: both", []*networkingv1.NetworkPolicy{
			np("web-in", map[string]string{"role": "web"}, nil, []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "ops"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"role": "scraper"}},
				}},
			}}, nil),
		}, monitorOther, web, web.ports[1], false},
		{"podSelector alone stays in the policy's namespace", []*networkingv1.NetworkPolicy{
			np("web-in", map[string]string{"role": "web"}, nil, []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "scraper"}}}},
			}}, nil),
		}, monitor, web, web.ports[1], false},
		{"ipBlock", []*networkingv1.NetworkPolicy{denyAll,
			np("web-out", map[string]string{"role": "web"}, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, nil,
				[]networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24", Except: []string{"192.0.2.128/25"}}}}}}),
		}, web, outside, outside.ports[0], true},
		{"ipBlock except", []*networkingv1.NetworkPolicy{denyAll,
			np("web-out", map[string]string{"role": "web"}, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, nil,
				[]networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24", Except: []string{"192.0.2.128/25"}}}}}}),
		}, web, outsideExcept, outsideExcept.ports[0], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := network{policies: tt.policies}
			if got := n.allows(tt.src, tt.dst, tt.port); got != tt.want {
				t.Errorf("%s → %s:%d allowed = %v, want %v", tt.src.name, tt.dst.name, tt.port.ContainerPort, got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
