package cli

import (
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/slipway/slipway/internal/server"
)

// limitFlags registers the flags of the server's limits, set to their defaults, on fs.
func limitFlags(fs *flag.FlagSet, l *server.Limits) {
	*l = server.DefaultLimits()
	fs.Var(&sizeFlag[int64]{&l.ConfigSize}, "max-config-size", "largest `size` of a pipeline configuration file, in bytes or with KiB, MiB, GiB (GitLab's max_yaml_size_bytes)")
	fs.IntVar(&l.ConfigDepth, "max-config-depth", l.ConfigDepth, "deepest nesting of collections in a configuration file (GitLab's max_yaml_depth)")
	fs.IntVar(&l.Includes, "max-includes", l.Includes, "most files a configuration includes (GitLab's ci_max_includes)")
	fs.IntVar(&l.Jobs, "max-jobs", l.Jobs, "most jobs of a pipeline, parallel instances and child pipelines counted")
	fs.Var(&sizeFlag[int]{&l.VariableSize}, "max-variable-size", "largest `size` of a variable's value, in configurations and set through the API")
	fs.Var(&sizeFlag[int64]{&l.LogSize}, "max-log-size", "largest `size` of a job log: past it the log is cut, and the job goes on")
	fs.IntVar(&l.Pipelines, "max-pipeline-work", l.Pipelines, "pipelines created or canceled at once (each writes all its jobs)")
	fs.IntVar(&l.Deliveries, "webhook-deliveries", l.Deliveries, "webhook deliveries kept per project")
	fs.DurationVar(&l.DeliveryAge, "webhook-delivery-age", l.DeliveryAge, "how long webhook deliveries are kept")
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", l.ReadHeaderTimeout, "time a client has to send a request's headers")
	fs.DurationVar(&l.ReadTimeout, "read-timeout", l.ReadTimeout, "time a client has to send a request (authenticated uploads: between two reads)")
	fs.DurationVar(&l.WriteTimeout, "write-timeout", l.WriteTimeout, "time a client has to take an answer (authenticated downloads and streams: between two writes)")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", l.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.IntVar(&l.Connections, "max-connections", l.Connections, "most client connections open at once (more wait to be accepted)")
	fs.Var(&sizeFlag[int64]{&l.CacheQuota}, "cache-quota", "largest `size` of a project's caches on the server, each key counted 4 KiB more: past it the least recently used keys are evicted")
	fs.DurationVar(&l.CacheAge, "cache-retention", l.CacheAge, "how long a cache is kept on the server unused (neither written nor read)")
	fs.IntVar(&l.PipelineDepth, "max-pipeline-depth", l.PipelineDepth, "deepest chain of pipelines made by job tokens (GitLab's two levels of child pipelines)")
	fs.IntVar(&l.PipelineRate, "max-pipeline-rate", l.PipelineRate, "pipelines a project's API triggers (API and job tokens, the Run pipeline form) make per minute; webhooks are not counted")
	fs.IntVar(&l.LoginRate, "login-rate", l.LoginRate, "sign-in attempts per minute from one client address (successful ones not counted)")
	fs.IntVar(&l.LoginUserRate, "login-user-rate", l.LoginUserRate, "sign-in attempts per minute naming one username (successful ones not counted)")
	fs.DurationVar(&l.SessionIdle, "session-idle", l.SessionIdle, "a session unused this long ends")
	fs.DurationVar(&l.SessionLifetime, "session-lifetime", l.SessionLifetime, "a session this old ends, used or not")
	fs.IntVar(&l.LogStates, "log-state-cache", l.LogStates, "jobs whose log rendering state the job page keeps, so that a long log's page reads only its tail")
	fs.IntVar(&l.LogStreams, "max-log-streams", l.LogStreams, "live page streams (job log and summary, pipeline, pipelines list) open at once; more are answered 429")
	fs.IntVar(&l.ArtifactEntries, "max-artifact-entries", l.ArtifactEntries, "entries of an artifacts archive the job page reads to list or serve its files")
}

// prefixFlag is a list of IP networks, given as CIDR prefixes or addresses separated by
// commas.
type prefixFlag struct{ v *[]netip.Prefix }

func (f *prefixFlag) String() string {
	if f.v == nil {
		return ""
	}
	out := make([]string, len(*f.v))
	for i, p := range *f.v {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

func (f *prefixFlag) Set(s string) error {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return fmt.Errorf("want IP networks such as 127.0.0.0/8,::1 or 10.1.2.3, not %q", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	*f.v = out
	return nil
}

// sizeFlag is a size in bytes, given as a number with an optional KiB, MiB or GiB.
type sizeFlag[T int | int64] struct{ v *T }

var sizeUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (f *sizeFlag[T]) String() string {
	if f.v == nil {
		return ""
	}
	n := int64(*f.v)
	for _, u := range sizeUnits {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return "0"
}

func (f *sizeFlag[T]) Set(s string) error {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size in bytes, with KiB, MiB or GiB if need be (e.g. 2MiB), not %q", s)
	}
	*f.v = T(n * mult)
	return nil
}
