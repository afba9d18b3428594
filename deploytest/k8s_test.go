package deploytest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The overlays under deploy/k8s/overlays and what each must render.
var overlays = map[string]expectations{
	"dev": {
		namespace: "voting-app",
		images: map[string]string{
			"vote": "voting-app/vote:dev", "worker": "voting-app/worker:dev",
			"result": "voting-app/result:dev", "analyzer": "voting-app/analyzer:dev",
			"postgres": "postgres:17", "redis": "redis:7.4",
		},
		pullPolicy: corev1.PullIfNotPresent,
	},
	"prod": {
		namespace: "voting-app",
		images: map[string]string{
			"vote":     "registry.example.com/voting-app/vote:1.0.0",
			"worker":   "registry.example.com/voting-app/worker:1.0.0",
			"result":   "registry.example.com/voting-app/result:1.0.0",
			"analyzer": "registry.example.com/voting-app/analyzer:1.0.0",
			"postgres": "postgres:17.6", "redis": "redis:7.4.5",
		},
	},
	"managed": {
		namespace: "voting-app",
		images: map[string]string{
			"vote":     "registry.example.com/voting-app/vote:1.0.0",
			"worker":   "registry.example.com/voting-app/worker:1.0.0",
			"result":   "registry.example.com/voting-app/result:1.0.0",
			"analyzer": "registry.example.com/voting-app/analyzer:1.0.0",
		},
		managedData: true,
		postgresIP:  "198.51.100.10",
		redisIP:     "198.51.100.20",
	},
}

// TestOverlays renders every overlay and runs every check on it.
func TestOverlays(t *testing.T) {
	tree := workTree(t)
	dirs, err := os.ReadDir(filepath.Join(tree, "deploy/k8s/overlays"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		names = append(names, d.Name())
	}
	if !slices.Equal(names, sortedKeys(overlays)) {
		t.Fatalf("overlays in deploy/k8s/overlays: %v; the test knows %v: add the new one's expectations to the table", names, sortedKeys(overlays))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := render(t, filepath.Join(tree, "deploy/k8s/overlays", name))
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					for _, f := range c.fn(m, overlays[name]) {
						t.Error(f)
					}
				})
			}
		})
	}
}

// TestBrokenFixtures renders overlays that each break one rule on top of the dev overlay, and
// expects exactly the check for that rule to object, with the given words; every other check
// must still pass, so a check that objects to everything cannot pass this test.
func TestBrokenFixtures(t *testing.T) {
	tests := map[string]map[string]string{ // fixture → check → words its finding must contain
		"run-as-root": {
			"pod security": "Deployment/vote: restricted: runAsNonRoot != true",
		},
		"privileged-sidecar": {
			"pod security": `Deployment/worker: restricted: privileged (container "debug" must not set securityContext.privileged=true)`,
		},
		"writable-root": {
			"pod security": "StatefulSet/redis: container redis: readOnlyRootFilesystem is not true",
		},
		"missing-seccomp": {
			"pod security": `StatefulSet/postgres: restricted: seccompProfile (pod or container "postgres" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
		},
		"service-account-token": {
			"pod security": "Deployment/analyzer: automountServiceAccountToken is not false",
		},
		"no-readiness-probe": {
			"probes": "Deployment/result: no readiness probe",
		},
		"probe-on-public-port": {
			"probes": "Deployment/vote: liveness probe port 8080, want the ops port 9090",
		},
		"no-memory-limit": {
			"resources": "Deployment/analyzer: container analyzer: no memory limit",
		},
		"gomemlimit-above-limit": {
			"resources": "Deployment/worker: container worker: GOMEMLIMIT=1GiB leaves less than 5% of the memory limit 256Mi",
		},
		"latest-tag": {
			"images": "Deployment/vote: image voting-app/vote:latest, want voting-app/vote:dev",
		},
		"wrong-secret-file": {
			"references": "Deployment/vote: container vote: REDIS_PASSWORD_FILE=/run/secrets/redis_pass: Secret vote-",
		},
		"vote-to-postgres": {
			"network flows": "allowed, but not a flow of the architecture: voting-app/vote → voting-app/postgres:5432/TCP",
		},
		"open-egress": {
			"network flows": "allowed, but not a flow of the architecture: voting-app/analyzer → internet:443/TCP",
		},
		"no-worker-autoscaler": {
			"availability": "no HorizontalPodAutoscaler (autoscaling/v2) scales Deployment/worker",
		},
		"pdb-blocks-drain": {
			"availability": "PodDisruptionBudget/result: maxUnavailable 0 lets no pod go",
		},
		"no-trusted-proxies": {
			"vote limit": "Deployment/vote: behind Ingress/voting-app: TRUSTED_PROXIES is not set",
		},
		"flood-scale-vote-limit": {
			"vote limit": "Deployment/vote: behind Ingress/voting-app: VOTE_RATE_LIMIT=1000 is above a person's 10",
		},
		"redis-fsync-everysec": {
			"durability": "StatefulSet/redis: --appendfsync everysec, want always",
		},
		// Not broken: opening vote's egress to Postgres changes nothing while Postgres's ingress
		// policy still refuses vote. The flow check must see that, not just match strings.
		"half-open": {},
		// Broken, but only the API server knows it: port names are at most 15 characters. No
		// check here objects; TestAPIServer (make k8s-test) shows the server refusing it.
		"port-name-too-long": {},
	}

	tree := workTree(t)
	dirs, err := os.ReadDir(filepath.Join(tree, "deploytest/testdata/broken"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, ok := tests[d.Name()]; !ok {
			t.Errorf("testdata/broken/%s has no expectation in TestBrokenFixtures", d.Name())
		}
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := render(t, filepath.Join(tree, "deploytest/testdata/broken", name))
			for _, c := range checks {
				findings := c.fn(m, overlays["dev"])
				words, expected := want[c.name]
				if !expected {
					if len(findings) > 0 {
						t.Errorf("check %q objects, but this fixture breaks only %v:\n\t%s", c.name, sortedKeys(want), strings.Join(findings, "\n\t"))
					}
					continue
				}
				i := slices.IndexFunc(findings, func(f string) bool { return strings.Contains(f, words) })
				if i < 0 {
					t.Errorf("check %q: no finding contains %q; findings:\n\t%s", c.name, words, strings.Join(findings, "\n\t"))
					continue
				}
				t.Logf("check %q caught it: %s", c.name, findings[i])
			}
		})
	}
}

// TestInitScriptCopy: kustomize reads no file outside a kustomization's directory, so the base
// carries a copy of the compose init script that creates the database roles. They must not drift.
func TestInitScriptCopy(t *testing.T) {
	root := repoRoot(t)
	compose, err := os.ReadFile(filepath.Join(root, "deploy/compose/initdb/10-roles.sh"))
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := os.ReadFile(filepath.Join(root, "deploy/k8s/base/postgres/10-roles.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(compose, k8s) {
		t.Error("deploy/k8s/base/postgres/10-roles.sh differs from deploy/compose/initdb/10-roles.sh: copy it over (cp deploy/compose/initdb/10-roles.sh deploy/k8s/base/postgres/)")
	}
}

// TestMissingSecretFiles: an overlay built before its secret files exist fails, and says which
// file is missing, rather than deploying empty passwords.
func TestMissingSecretFiles(t *testing.T) {
	root := repoRoot(t)
	dst := t.TempDir()
	copyTree(t, filepath.Join(root, "deploy/k8s"), filepath.Join(dst, "deploy/k8s"))
	_, err := renderDir(filepath.Join(dst, "deploy/k8s/overlays/dev"))
	if err == nil || !strings.Contains(err.Error(), "secrets/postgres_password.txt") {
		t.Fatalf("rendering without secret files: err = %v, want one naming secrets/postgres_password.txt", err)
	}
}
