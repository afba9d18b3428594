package app

import (
	"time"

	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/go-voting-app/voting-app/platform/web"
)

// Settings are the variables every service reads the same way.
type Settings struct {
	LogLevel  string        // LOG_LEVEL: debug, info (default), warn, error
	HTTPAddr  string        // HTTP_ADDR: the public server (not used by the worker)
	OpsAddr   string        // OPS_ADDR: /livez, /readyz, /metrics (default :9090)
	Lifecycle web.Lifecycle // DRAIN_DELAY (default 0), SHUTDOWN_TIMEOUT (default 10s)
}

// SettingsFromEnv reads the common variables; httpAddr is the service's default public address.
func SettingsFromEnv(env *config.Env, httpAddr string) Settings {
	return Settings{
		LogLevel: env.String("LOG_LEVEL", "info"),
		HTTPAddr: env.String("HTTP_ADDR", httpAddr),
		OpsAddr:  env.String("OPS_ADDR", DefaultOpsAddr),
		Lifecycle: web.Lifecycle{
			DrainDelay:      env.Duration("DRAIN_DELAY", 0, 0, time.Minute),
			ShutdownTimeout: env.Duration("SHUTDOWN_TIMEOUT", 10*time.Second, time.Second, 5*time.Minute),
		},
	}
}
