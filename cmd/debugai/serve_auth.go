package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/debugai/debugai/ingest"
)

// otlpAuthFlags configure who may send OTLP to serve.
type otlpAuthFlags struct {
	tokenFile, hosts, cert, key, clientCA *string
}

func addOTLPAuthFlags(fs *flag.FlagSet) otlpAuthFlags {
	return otlpAuthFlags{
		tokenFile: fs.String("otlp-token-file", "", "file holding the bearer token OTLP senders must send (\"Authorization: Bearer <token>\", as the Collector's bearertokenauth extension does); env DEBUGAI_OTLP_TOKEN holds the token itself. Required, or --otlp-client-ca, when --listen or --grpc-listen is not loopback"),
		hosts:     fs.String("otlp-allowed-hosts", "", "comma-separated host names accepted in OTLP/HTTP Host/Origin headers besides localhost and IP addresses (DNS-rebinding protection): the names collectors use to reach serve; \"*\" accepts any Host"),
		cert:      fs.String("otlp-tls-cert", "", "PEM certificate (chain) to serve OTLP/HTTP and OTLP/gRPC over TLS; with --otlp-tls-key"),
		key:       fs.String("otlp-tls-key", "", "PEM private key of --otlp-tls-cert"),
		clientCA:  fs.String("otlp-client-ca", "", "PEM CA bundle; senders must present a client certificate it signed (mTLS, the exporters' cert_file/key_file); requires --otlp-tls-cert"),
	}
}

// config builds the AuthConfig. extraToken (the run's own token, published
// in the 0600 state file for import) is accepted besides the configured
// one. Errors never show a token.
func (f otlpAuthFlags) config(env *cmdEnv, extraToken string) (ingest.AuthConfig, error) {
	var a ingest.AuthConfig
	token := env.getenv("DEBUGAI_OTLP_TOKEN")
	if *f.tokenFile != "" {
		if token != "" {
			return a, usagef("--otlp-token-file and DEBUGAI_OTLP_TOKEN are both set: use one")
		}
		b, err := os.ReadFile(*f.tokenFile)
		if err != nil {
			return a, fmt.Errorf("reading --otlp-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return a, usagef("--otlp-token-file %s: %v", *f.tokenFile, ingest.ErrWeakToken)
		}
	}
	if token != "" {
		a.BearerTokens = []string{token, extraToken}
	}
	for _, h := range strings.Split(*f.hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			a.AllowedHosts = append(a.AllowedHosts, h)
		}
	}
	switch {
	case (*f.cert == "") != (*f.key == ""):
		return a, usagef("--otlp-tls-cert and --otlp-tls-key go together")
	case *f.clientCA != "" && *f.cert == "":
		return a, usagef("--otlp-client-ca requires --otlp-tls-cert and --otlp-tls-key")
	case *f.cert == "":
		return a, nil
	}
	cert, err := tls.LoadX509KeyPair(*f.cert, *f.key)
	if err != nil {
		return a, fmt.Errorf("loading OTLP TLS certificate: %w", err)
	}
	a.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if *f.clientCA != "" {
		pem, err := os.ReadFile(*f.clientCA)
		if err != nil {
			return a, fmt.Errorf("reading --otlp-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return a, errors.New("--otlp-client-ca: no PEM certificate found")
		}
		a.TLS.ClientCAs, a.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return a, nil
}
