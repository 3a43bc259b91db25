// Command vcsim-esxnet runs govmomi's vSphere simulator (package
// github.com/vmware/govmomi/simulator, Debian's golang-github-vmware-govmomi-dev)
// for esxnet's tests and CI.
//
// It serves one model over HTTPS on a loopback address, prints exactly one
// line to stdout (the SDK URL, without credentials) once it answers, and
// stops by itself after -max-seconds or on SIGTERM/SIGINT.
//
// Credentials: with no -username/-password, vcsim accepts any non-empty user
// name and password (esxnet's scripts use user/pass). With both flags set,
// only that pair is accepted; other pairs get InvalidLogin.
//
// Built by scripts/vcsim/vcsim.sh (GOPATH mode, GO111MODULE=off).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io/ioutil"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "vcsim: "+format+"\n", args...)
	os.Exit(1)
}

// newCertificates makes a throwaway CA and a server certificate it signs for
// 127.0.0.1, ::1 and localhost (ECDSA P-256). govmomi's built-in certificate
// is a 1024-bit RSA CA certificate that OpenSSL (curl) and webpki (rustls)
// refuse to verify, so clients could only skip verification; with this one
// they can trust the CA written by -cert-out instead.
func newCertificates() (tls.Certificate, []byte, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"esxnet vcsim"}, CommonName: "esxnet vcsim test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{Organization: []string{"esxnet vcsim"}, CommonName: "127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return cert, caPEM, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on, loopback only; port 0 picks a free port")
	vpx := flag.Bool("vpx", false, "serve a vCenter model (datacenter, cluster of 3 hosts and 1 standalone host) instead of a standalone ESXi host")
	maxSeconds := flag.Int("max-seconds", 3600, "stop by itself after this many seconds (must be > 0)")
	username := flag.String("username", "", "accept only this user name (with -password); empty: any non-empty user name and password")
	password := flag.String("password", "", "accept only this password (with -username)")
	certOut := flag.String("cert-out", "", "if set, write the CA certificate (PEM) that signed the server's certificate to this file")
	flag.Parse()

	if flag.NArg() != 0 {
		fail("unexpected arguments: %v", flag.Args())
	}
	if *maxSeconds <= 0 {
		fail("-max-seconds must be > 0")
	}
	if (*username == "") != (*password == "") {
		fail("-username and -password go together")
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		fail("bad -listen %q: %v", *listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		fail("-listen must be a loopback IP address and port, such as 127.0.0.1:0; got %q", *listen)
	}

	model := simulator.ESX()
	if *vpx {
		model = simulator.VPX()
	}
	if err := model.Create(); err != nil {
		fail("creating the model: %v", err)
	}
	defer model.Remove()

	listenURL := &url.URL{Host: *listen}
	if *username != "" {
		listenURL.User = url.UserPassword(*username, *password)
	}
	model.Service.Listen = listenURL
	// A non-nil TLS config makes NewServer serve HTTPS (with govmomi's
	// built-in certificate when Certificates is empty).
	cert, caPEM, err := newCertificates()
	if err != nil {
		fail("making the TLS certificate: %v", err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}

	server := model.Service.NewServer() // panics if the address cannot be bound
	defer server.Close()

	if *certOut != "" {
		if err := ioutil.WriteFile(*certOut, caPEM, 0o644); err != nil {
			fail("writing %s: %v", *certOut, err)
		}
	}

	sdk := *server.URL
	sdk.User = nil // credentials are documented, not printed in the URL
	fmt.Println(sdk.String())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-signals:
		fmt.Fprintf(os.Stderr, "vcsim: %v received, stopping\n", sig)
	case <-time.After(time.Duration(*maxSeconds) * time.Second):
		fmt.Fprintf(os.Stderr, "vcsim: -max-seconds %d reached, stopping\n", *maxSeconds)
	}
}
