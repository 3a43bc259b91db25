//! The HTTPS server: a self-signed certificate, an accept loop on its own runtime thread, and the
//! routing of VI JSON paths and SOAP calls (`/sdk`) to the [`Simulator`].

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::vim::{hello, ServerCounters, Simulator, VimRequest};
use crate::SimServerError;

/// The header that carries the session token, both ways.
const SESSION_HEADER: &str = "vmware-api-session-id";
/// Where the simulator's call counters are read (`GET`) and reset (`DELETE`).
pub const COUNTERS_PATH: &str = "/esxnet/counters";
/// Request bodies above this are refused: no call esxnet makes comes near it.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How long an oversized body is read (and dropped) before the connection is cut off.
const OVERSIZED_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Where SOAP clients (ESXi's own protocol) post their calls.
const SOAP_PATH: &str = "/sdk";
/// The service-version document SOAP clients read before they log in.
const SERVICE_VERSIONS_PATH: &str = "/sdk/vimServiceVersions.xml";

/// How to serve a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The lab directory (made with `esxnet sim init`); the server holds its writer lock.
    pub lab_dir: PathBuf,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The user name `SessionManager.Login` accepts.
    pub user: String,
    /// The password `SessionManager.Login` accepts.
    pub password: String,
    /// The server stops by itself after this long, so a forgotten server does not live forever.
    pub max_duration: Duration,
    /// Listen on an address other than loopback. Off by default: the simulator has no real
    /// security and should not be reachable from other machines by accident.
    pub allow_non_loopback: bool,
    /// A connection that sends nothing for this long (no TLS handshake, no next request, or a
    /// request head that never ends) is closed, so idle and slow clients cannot hold the server.
    /// Longer than the 90 s for which HTTP clients keep idle connections, so that a client never
    /// sends a call on a connection the server is closing.
    pub idle_timeout: Duration,
}

impl ServeOptions {
    /// Options for serving `lab_dir` on a free loopback port for at most an hour.
    pub fn new(lab_dir: impl Into<PathBuf>, user: impl Into<String>, password: impl Into<String>) -> Self {
        ServeOptions {
            lab_dir: lab_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            user: user.into(),
            password: password.into(),
            max_duration: Duration::from_secs(3600),
            allow_non_loopback: false,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// A running server. Dropping it stops the server, as [`ServerHandle::stop`] does.
pub struct ServerHandle {
    address: SocketAddr,
    url: String,
    certificate_pem: String,
    shutdown: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
    simulator: Arc<Simulator>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ServerHandle")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on, with the port it got.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The SDK URL, `https://127.0.0.1:PORT/sdk`, as vSphere clients are pointed at.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port`, what `vim_rs`'s `ClientBuilder::new` takes.
    pub fn server_address(&self) -> String {
        self.address.to_string()
    }

    /// The calls answered so far, in all, by method and per host (see [`ServerCounters`]).
    pub fn counters(&self) -> ServerCounters {
        self.simulator.counters()
    }

    /// Forgets the calls counted so far.
    pub fn reset_counters(&self) {
        self.simulator.reset_counters()
    }

    /// The server's self-signed certificate (PEM), for clients that verify TLS by trusting it.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// Stops the server and waits for it: in-flight calls are cut off and the lab lock released.
    pub fn stop(mut self) -> Result<(), SimServerError> {
        self.shut_down()
    }

    /// Waits until the server stops by itself (its maximum duration).
    pub fn wait(mut self) -> Result<(), SimServerError> {
        let thread = self.thread.take();
        let outcome = match thread {
            Some(thread) => thread.join().map_err(|_| SimServerError::Panicked),
            None => Ok(()),
        };
        self.shutdown = None;
        outcome
    }

    fn shut_down(&mut self) -> Result<(), SimServerError> {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may have stopped already (maximum duration): nobody listens then.
            let _ = shutdown.send(true);
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| SimServerError::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// Starts serving a lab over the vSphere API (VI JSON and SOAP) and returns once the server listens.
///
/// The server runs on its own thread and runtime, so it may be started from synchronous code and
/// from inside another tokio runtime alike. It stops on [`ServerHandle::stop`], when the handle is
/// dropped, or after [`ServeOptions::max_duration`].
pub fn serve(options: ServeOptions) -> Result<ServerHandle, SimServerError> {
    if !options.listen.ip().is_loopback() && !options.allow_non_loopback {
        return Err(SimServerError::NotLoopback {
            address: options.listen,
        });
    }
    let lab = esxnet_sim::Lab::open_writer(&options.lab_dir).map_err(|source| SimServerError::Lab {
        dir: options.lab_dir.clone(),
        source,
    })?;
    let (tls_config, certificate_pem) = tls_config()?;
    let listener = StdTcpListener::bind(options.listen).map_err(|source| SimServerError::Bind {
        address: options.listen,
        source,
    })?;
    let address = listener.local_addr().map_err(|source| SimServerError::Bind {
        address: options.listen,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| SimServerError::Bind { address, source })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("esxnet-sim-server")
        .enable_all()
        .build()
        .map_err(|source| SimServerError::Runtime { source })?;
    let simulator =
        Arc::new(
            Simulator::new(lab, options.user, options.password).map_err(|source| SimServerError::Lab {
                dir: options.lab_dir.clone(),
                source,
            })?,
        );
    let acceptor = TlsAcceptor::from(Arc::new(tls_config));
    let handle_simulator = simulator.clone();
    let (shutdown, shutdown_receiver) = watch::channel(false);
    let max_duration = options.max_duration;
    let idle_timeout = options.idle_timeout;
    let thread = std::thread::Builder::new()
        .name("esxnet-sim-server".to_owned())
        .spawn(move || {
            runtime.block_on(accept_loop(
                listener,
                acceptor,
                simulator,
                shutdown_receiver,
                max_duration,
                idle_timeout,
            ));
            // Dropping the runtime here ends the connections still open.
        })
        .map_err(|source| SimServerError::Runtime { source })?;
    Ok(ServerHandle {
        address,
        url: format!("https://{address}/sdk"),
        certificate_pem,
        shutdown: Some(shutdown),
        thread: Some(thread),
        simulator: handle_simulator,
    })
}

/// Serves until the maximum duration passes, for a command that runs the server in the
/// foreground. `on_listening` runs once the server listens (to print its URL); a signal that ends
/// the process ends the server with it.
pub fn serve_blocking(options: ServeOptions, on_listening: impl FnOnce(&ServerHandle)) -> Result<(), SimServerError> {
    let handle = serve(options)?;
    on_listening(&handle);
    handle.wait()
}

/// A fresh self-signed certificate for `localhost` and `127.0.0.1`, and the TLS configuration
/// that serves it with the ring provider.
fn tls_config() -> Result<(rustls::ServerConfig, String), SimServerError> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(|source| SimServerError::Certificate { source })?;
    let certificate_pem = certified.cert.pem();
    let certificate = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|source| SimServerError::Tls { source })?
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .map_err(|source| SimServerError::Tls { source })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, certificate_pem))
}

async fn accept_loop(
    listener: StdTcpListener,
    acceptor: TlsAcceptor,
    simulator: Arc<Simulator>,
    mut shutdown: watch::Receiver<bool>,
    max_duration: Duration,
    idle_timeout: Duration,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let deadline = tokio::time::sleep(max_duration);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            // A stop request, or the handle dropped.
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                // Answers are small and each one waits for the next request: send them at once.
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let simulator = simulator.clone();
                tokio::spawn(async move {
                    let Ok(Ok(stream)) = tokio::time::timeout(idle_timeout, acceptor.accept(stream)).await else {
                        return;
                    };
                    let service = service_fn(move |request| {
                        let simulator = simulator.clone();
                        async move { Ok::<_, Infallible>(route(simulator, request).await) }
                    });
                    // The header-read timeout also runs while a kept-alive connection waits for
                    // its next request: an idle connection is closed after `idle_timeout`.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(idle_timeout)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

fn response(status: u16, body: String, session: Option<&str>) -> Response<Full<Bytes>> {
    let mut builder =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if !body.is_empty() {
        let content_type = if status == 503 {
            "text/plain"
        } else {
            "application/json"
        };
        builder = builder.header("content-type", content_type);
    }
    if let Some(session) = session {
        builder = builder.header(SESSION_HEADER, session);
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Reads a request body of at most [`MAX_BODY_BYTES`]. A larger body is read to its end (and
/// dropped) before the refusal is sent, so the client reads the refusal instead of a reset
/// connection; a body that does not end within [`OVERSIZED_BODY_TIMEOUT`] is cut off.
async fn read_body(mut body: Incoming) -> Option<Bytes> {
    let mut collected = Vec::new();
    let mut oversized = false;
    let drained = tokio::time::timeout(OVERSIZED_BODY_TIMEOUT, async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return false;
            };
            if let Ok(data) = frame.into_data() {
                if oversized || collected.len() + data.len() > MAX_BODY_BYTES {
                    oversized = true;
                    collected = Vec::new();
                } else {
                    collected.extend_from_slice(&data);
                }
            }
        }
        true
    })
    .await;
    match drained {
        Ok(true) if !oversized => Some(Bytes::from(collected)),
        _ => None,
    }
}

fn soap_response(reply: crate::soap::SoapReply) -> Response<Full<Bytes>> {
    let content_type = if reply.status == 503 {
        "text/plain"
    } else {
        "text/xml; charset=utf-8"
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type);
    if let Some(session) = &reply.session {
        builder = builder.header(hyper::header::SET_COOKIE, crate::soap::session_cookie(session));
    }
    builder
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn counters_json(counters: &ServerCounters) -> String {
    serde_json::to_string(counters).unwrap_or_default()
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "error_type": "NOT_FOUND",
        "messages": [{"default_message": format!("esxnet's simulator serves no {path}")}],
    });
    response(404, body.to_string(), None)
}

async fn route(simulator: Arc<Simulator>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let cookies: Vec<String> = request
        .headers()
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_owned)
        .collect();
    let Some(body) = read_body(request.into_body()).await else {
        if path == SOAP_PATH {
            return soap_response(crate::soap::request_fault(format!(
                "the request body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        return response(413, String::new(), None);
    };
    if path == SOAP_PATH || path == SERVICE_VERSIONS_PATH {
        return match (method, path.as_str()) {
            (Method::POST, SOAP_PATH) => {
                let session = crate::soap::session_from_cookies(cookies.iter().map(String::as_str));
                let latency = Duration::from_millis(simulator.latency_ms());
                let reply = tokio::task::spawn_blocking(move || {
                    esxnet_sim::backend::lasting(latency, || crate::soap::handle(&simulator, &body, session))
                })
                .await;
                match reply {
                    Ok(reply) => soap_response(reply),
                    Err(_) => soap_response(crate::soap::SoapReply {
                        status: 500,
                        body: crate::soap::fault_envelope(&crate::fault::VimFault::new(
                            "SystemError",
                            "the simulator failed while answering this call",
                        )),
                        session: None,
                    }),
                }
            }
            (Method::GET, SERVICE_VERSIONS_PATH) => Response::builder()
                .header("content-type", "text/xml; charset=utf-8")
                .body(Full::new(Bytes::from_static(crate::soap::SERVICE_VERSIONS.as_bytes())))
                .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
            _ => response(405, String::new(), None),
        };
    }
    if method == Method::POST && path == "/api/vcenter/system" && query.split('&').any(|pair| pair == "action=hello") {
        return response(200, hello(&body), None);
    }
    // Not part of the vSphere API: the simulator's call counters, for benchmarks and tests that
    // run `esxnet sim serve` as a process.
    if path == COUNTERS_PATH {
        return match method {
            Method::GET => response(200, counters_json(&simulator.counters()), None),
            Method::DELETE => {
                simulator.reset_counters();
                response(204, String::new(), None)
            }
            _ => response(405, String::new(), None),
        };
    }
    let Some(rest) = path.strip_prefix("/sdk/vim25/") else {
        return not_found(&path);
    };
    let parts: Vec<&str> = rest.splitn(4, '/').collect();
    let [release, mo_type, mo_id, name] = parts.as_slice() else {
        return not_found(&path);
    };
    if !crate::vim::API_RELEASES.contains(release) {
        return not_found(&path);
    }
    let is_property_read = match method {
        Method::GET => true,
        Method::POST => false,
        _ => return response(405, String::new(), None),
    };
    let latency = Duration::from_millis(simulator.latency_ms());
    let vim_request = VimRequest {
        is_property_read,
        mo_type: (*mo_type).to_owned(),
        mo_id: (*mo_id).to_owned(),
        name: (*name).to_owned(),
        session,
        body: body.to_vec(),
    };
    // The lab is files behind locks: keep its IO off the async workers.
    // The latency is slept on the blocking thread too: a thread sleep lasts what it says, where
    // the async timer rounds up to its next tick and made every simulated call a millisecond or
    // two slower than the lab asks for (the `sim:` target sleeps the same way).
    let reply =
        tokio::task::spawn_blocking(move || esxnet_sim::backend::lasting(latency, || simulator.handle(&vim_request)))
            .await;
    match reply {
        Ok(reply) => response(reply.status, reply.body, reply.session.as_deref()),
        Err(_) => {
            let fault = crate::fault::VimFault::new("SystemError", "the simulator failed while answering this call");
            response(500, fault.to_wire(), None)
        }
    }
}
