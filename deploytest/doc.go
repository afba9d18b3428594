// Package deploytest checks the deployment files under deploy/ the way a cluster would read them,
// without needing one.
//
// Kubernetes (deploy/k8s): every overlay is built with the kustomize API (the same code as
// `kubectl apply -k`), each object is decoded strictly into the Kubernetes API types (an unknown
// or duplicate field fails), and the result is checked: every pod meets the Pod Security Standard
// "restricted" (evaluated by k8s.io/pod-security-admission, the API server's own implementation)
// plus the project's own rules (numeric users, read-only root file systems, no service account
// token); probes on the Go services' ops port; requests and limits on every container; images and
// tags as the overlay says; every reference (ConfigMaps, Secrets and their keys, Services, ports)
// resolves; the NetworkPolicies, evaluated selector by selector, allow exactly the flows of the
// architecture; PodDisruptionBudgets and HorizontalPodAutoscalers cover the replicated services.
// The fixtures under testdata/broken break one rule each and must be caught.
//
// Behind the build tag k8s, the same manifests meet a real Kubernetes (make k8s-test, which builds
// the programs once with scripts/kube-bins.sh and runs as root): TestAPIServer applies every
// overlay, every broken fixture and an upgrade from the previous release to kube-apiserver and
// kube-controller-manager; TestNode runs the dev overlay on one node (kubelet, containerd, kube-proxy,
// CoreDNS) and votes through its Services.
//
// Swarm (deploy/swarm/stack.yml): the plain tests read the stack file and compare it with
// docker-compose.yml and with what Swarm honours. The test behind the build tag swarm deploys the
// stack on this engine (it turns the engine into a one-node swarm and leaves the swarm afterwards)
// and votes through it:
//
//	go test -tags swarm -count=1 -v -timeout 8m ./deploytest -run Swarm
//
// See deploy/k8s/README.md and deploy/swarm/README.md.
package deploytest
