package privacy

// Default attribute policy. The keep list is what the detectors and the
// deploy evidence line need; everything else is dropped unless listed here.
// Drop rules come first where a keep prefix would otherwise cover a key that
// can carry payloads (request metadata, pod labels).

var defaultDrop = []string{
	"rpc.grpc.request.metadata.*",
	"rpc.grpc.response.metadata.*",
	"rpc.connect_rpc.request.metadata.*",
	"rpc.connect_rpc.response.metadata.*",
	"rpc.request.metadata.*",
	"rpc.response.metadata.*",
	"rpc.message.*",
	"exception.stacktrace",
	"url.query",
	"url.fragment",
	"vcs.owner.name",
}

var defaultTokenize = []string{
	"enduser.*", "user.*", "session.id", "session.previous_id",
	"tenant.id", "tenant.name", "organization.id",
	"client.address", "client.socket.address",
	"source.address", "destination.address",
	"server.address", "server.socket.address",
	"net.peer.ip", "net.peer.name", "net.sock.peer.addr", "net.sock.peer.name",
	"net.host.ip", "net.sock.host.addr",
	"network.peer.address", "network.local.address",
	"host.ip", "host.mac", "http.client_ip",
	"messaging.message.id", "messaging.message.conversation_id",
	"messaging.client.id", "messaging.client_id",
	"db.user", "process.owner", "feature_flag.context.id",
}

var defaultNormalize = []string{
	"url.full", "url.path", "url.original", "http.url", "http.target",
	"db.statement", "db.query.text",
	"exception.message", "otel.status_description", "error.message",
}

var defaultKeep = []string{
	// service and deployment
	"service.name", "service.namespace", "service.version", "service.instance.id",
	"deployment.version", "deployment.environment", "deployment.environment.name", "deployment.id",
	// host, os, kernel
	"host.name", "host.id", "host.arch", "host.type",
	"host.image.name", "host.image.id", "host.image.version",
	"os.type", "os.name", "os.version", "os.description", "os.build_id",
	"host.kernel.version", "kernel.version", "kernel.anomaly",
	// process and thread
	"process.pid", "process.parent_pid",
	"process.runtime.name", "process.runtime.version", "process.runtime.description",
	"process.executable.name", "thread.id", "thread.name",
	"telemetry.sdk.*", "telemetry.distro.*",
	// code location
	"code.function", "code.function.name", "code.namespace",
	"code.lineno", "code.line.number", "code.filepath", "code.file.path",
	// kubernetes and containers
	"k8s.cluster.name", "k8s.cluster.uid", "k8s.node.name", "k8s.node.uid",
	"k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid",
	"k8s.container.name", "k8s.container.restart_count",
	"k8s.replicaset.name", "k8s.replicaset.uid", "k8s.deployment.name", "k8s.deployment.uid",
	"k8s.statefulset.name", "k8s.statefulset.uid", "k8s.daemonset.name", "k8s.daemonset.uid",
	"k8s.job.name", "k8s.job.uid", "k8s.cronjob.name", "k8s.cronjob.uid",
	"container.id", "container.name", "container.image.name", "container.image.tag",
	"container.image.id", "container.runtime",
	// cloud
	"cloud.provider", "cloud.region", "cloud.availability_zone", "cloud.platform",
	// http, rpc, db, messaging
	"http.route", "url.template", "url.scheme",
	"http.request.method", "http.method", "http.response.status_code", "http.status_code",
	"rpc.*",
	"db.system", "db.system.name", "db.name", "db.namespace",
	"db.operation", "db.operation.name", "db.collection.name", "db.sql.table", "db.response.status_code",
	"messaging.system", "messaging.operation", "messaging.operation.*", "messaging.destination.name",
	// versions and flags
	"vcs.*", "git.commit", "git.commit.*",
	"feature_flag.*",
	// errors and status
	"exception.type", "exception.escaped", "error.type", "otel.status_code",
	// peers and network
	"peer.service", "server.port", "client.port",
	"network.protocol.name", "network.protocol.version", "network.transport", "network.type",
	// scope and events
	"otel.scope.*", "otel.library.name", "otel.library.version",
	"event.name",
	// debugai's own keys (values still PII-scanned)
	"debugai.*",
}

func defaultRules() []Rule {
	n := len(defaultDrop) + len(defaultTokenize) + len(defaultNormalize) + len(defaultKeep)
	rules := make([]Rule, 0, n)
	for _, m := range defaultDrop {
		rules = append(rules, Rule{Match: m, Action: ActionDrop})
	}
	for _, m := range defaultTokenize {
		rules = append(rules, Rule{Match: m, Action: ActionTokenize})
	}
	for _, m := range defaultNormalize {
		rules = append(rules, Rule{Match: m, Action: ActionNormalize})
	}
	for _, m := range defaultKeep {
		rules = append(rules, Rule{Match: m, Action: ActionKeep})
	}
	return rules
}

// inferNormalizer picks the normalization for a normalize rule without an
// explicit normalizer.
func inferNormalizer(key string) Normalizer {
	switch key {
	case "url.full", "url.path", "url.original", "http.url", "http.target":
		return NormalizeURL
	case "db.statement", "db.query.text":
		return NormalizeSQL
	}
	return NormalizeMessage
}
