package plugin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLSFiles name the PEM files of mutual TLS between energy servers and
// their clients: this side's certificate and key, and the CA that signs the
// other side's certificate. Both sides present a certificate and verify the
// other's; a client also checks that the server's certificate names the host
// it dialled.
type TLSFiles struct {
	Cert, Key, CA string
}

// Enabled reports whether any file is given (then all three must be).
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

func (f TLSFiles) load() (tls.Certificate, *x509.CertPool, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return tls.Certificate{}, nil, errors.New("mutual TLS needs all three of the certificate, its key and the CA certificate")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("TLS key pair %s, %s: %w", f.Cert, f.Key, err)
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", f.CA)
	}
	return cert, pool, nil
}

// ErrPlaintext refuses an unencrypted connection to or from a host other
// than this one: energies and positions would cross the network in the
// clear, and anyone who reaches the port could use the server.
var ErrPlaintext = errors.New("plaintext gRPC is refused on a non-loopback address: give the TLS certificate, key and CA (--tls-cert, --tls-key, --tls-ca)")

// isLoopback reports whether a host:port names this machine only: an IP
// literal in 127.0.0.0/8 or ::1, or "localhost". An empty host (":9000",
// every interface) is not loopback; no other name is resolved, because what
// a name resolves to can change after the check.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w (want host:port)", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// transportCreds are the transport credentials of a server listening on
// addr (listen) or of a client dialling it: plaintext on loopback only,
// else mutual TLS, where the server requires and verifies the client's
// certificate and the client verifies the server's against the same CA file.
func transportCreds(addr string, files TLSFiles, listen bool) (credentials.TransportCredentials, error) {
	lo, err := isLoopback(addr)
	if err != nil {
		return nil, err
	}
	if !files.Enabled() {
		if !lo {
			verb := "dial"
			if listen {
				verb = "listen on"
			}
			return nil, fmt.Errorf("%s %s: %w", verb, addr, ErrPlaintext)
		}
		return insecure.NewCredentials(), nil
	}
	cert, ca, err := files.load()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if listen {
		cfg.ClientCAs, cfg.ClientAuth = ca, tls.RequireAndVerifyClientCert
	} else {
		cfg.RootCAs = ca
	}
	return credentials.NewTLS(cfg), nil
}

// CheckTransport checks, before anything is started, what Serve (listen) or
// Start (a Config.Remote address) will check: the address's form, that
// plaintext is used on loopback only, and that the TLS files load.
func CheckTransport(addr string, files TLSFiles, listen bool) error {
	_, err := transportCreds(addr, files, listen)
	return err
}
