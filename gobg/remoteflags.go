package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/gobg/gobg/plugin"
)

// tlsFlags are the mutual-TLS files of `gobg energy serve` and of its
// clients.
type tlsFlags struct {
	cert, key, ca *string
}

func addTLSFlags(fs *flag.FlagSet, side string) tlsFlags {
	return tlsFlags{
		cert: fs.String("tls-cert", "", "this "+side+"'s TLS certificate `file` (PEM); mutual TLS is required off loopback"),
		key:  fs.String("tls-key", "", "the private key `file` (PEM) of --tls-cert"),
		ca:   fs.String("tls-ca", "", "CA certificate `file` (PEM) that signs the other side's certificates"),
	}
}

func (t tlsFlags) files() plugin.TLSFiles {
	return plugin.TLSFiles{Cert: *t.cert, Key: *t.key, CA: *t.ca}
}

// validate refuses some of the three files without the others.
func (t tlsFlags) validate() error {
	if f := t.files(); f.Enabled() && (f.Cert == "" || f.Key == "" || f.CA == "") {
		return fmt.Errorf("%w: mutual TLS needs all three of --tls-cert, --tls-key and --tls-ca", errUsage)
	}
	return nil
}

// remoteFlags are the client side: energy servers to evaluate on.
type remoteFlags struct {
	addrs stringList
	tls   tlsFlags
}

func addRemoteFlags(fs *flag.FlagSet) *remoteFlags {
	r := &remoteFlags{}
	fs.Var(&r.addrs, "energy-workers", "evaluate energies on these energy servers (`host:port,...`, from `gobg energy serve`) with OpenMM")
	r.tls = addTLSFlags(fs, "client")
	return r
}

func (r *remoteFlags) set() bool { return len(r.addrs) > 0 }

// validate checks the addresses and TLS files; energySet says whether
// --energy was given, energyName its value.
func (r *remoteFlags) validate(energySet bool, energyName string) error {
	if !r.set() {
		if r.tls.files().Enabled() {
			return fmt.Errorf("%w: --tls-cert, --tls-key and --tls-ca go with --energy-workers", errUsage)
		}
		return nil
	}
	if err := r.tls.validate(); err != nil {
		return err
	}
	if energySet && strings.ToLower(energyName) != "openmm" {
		return fmt.Errorf("%w: --energy-workers evaluates with OpenMM on the servers: give --energy openmm or leave --energy out", errUsage)
	}
	return checkRemote(r.addrs, r.tls.files())
}

// checkRemote applies the address and TLS rules to every server.
func checkRemote(addrs []string, files plugin.TLSFiles) error {
	for _, a := range addrs {
		if err := plugin.CheckTransport(a, files, false); err != nil {
			if errors.Is(err, plugin.ErrPlaintext) || !files.Enabled() {
				return fmt.Errorf("%w: --energy-workers %s: %v", errUsage, a, err)
			}
			return fmt.Errorf("--energy-workers %s: %w", a, err)
		}
	}
	return nil
}
