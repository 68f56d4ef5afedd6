//! The `switchyard` binary: `switchyard [run] [flags]`, `switchyard version`,
//! `switchyard healthcheck [--url=URL] [flags]`, `switchyard check [flags]`. Flags are Traefik's
//! static configuration flags (`--entryPoints.web.address=:80`, `--configFile=...`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use switchyard::config::{self, LoadedStatic};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "Switchyard, a Traefik v3 compatible edge router.

Usage:
  switchyard [run] [--configFile=FILE | Traefik static flags...]
  switchyard check [same flags]         validate the configuration and print the routing table
  switchyard healthcheck [--url=URL] [same flags]
                                        call the ping endpoint; exit 0 when healthy
  switchyard version

The static configuration comes from a file (--configFile, or traefik.yml / switchyard.yml in
/etc/traefik, /etc/switchyard, $XDG_CONFIG_HOME, ~/.config, .), or flags, or TRAEFIK_* variables.
";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("version" | "run" | "check" | "healthcheck") => args.remove(0),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => "run".to_owned(),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    match command.as_str() {
        "version" => {
            println!(
                "Version:      {}\nCodename:     switchyard\nCompatible:   Traefik v3.7",
                switchyard::VERSION
            );
            ExitCode::SUCCESS
        }
        "check" => match config::load(&args, &env) {
            Ok(loaded) => {
                let outcome = switchyard::check::run(loaded);
                print!("{}", outcome.text);
                if outcome.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => fail(&e),
        },
        "healthcheck" => healthcheck(args, &env),
        _ => match config::load(&args, &env) {
            Ok(loaded) => run(loaded),
            Err(e) => fail(&e),
        },
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

fn run(loaded: LoadedStatic) -> ExitCode {
    if let Err(e) = switchyard::observe::log::init(loaded.config.log.as_ref()) {
        return fail(&e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(switchyard::app::run(loaded)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            fail(&e)
        }
    }
}

/// Traefik's `healthcheck`: GET the ping endpoint, exit 0 on 200.
fn healthcheck(mut args: Vec<String>, env: &[(String, String)]) -> ExitCode {
    let mut url = None;
    args.retain(|a| match a.strip_prefix("--url=") {
        Some(u) => {
            url = Some(u.to_owned());
            false
        }
        None => true,
    });
    let url = match url {
        Some(u) => u,
        None => {
            let loaded = match config::load(&args, env) {
                Ok(l) => l,
                Err(e) => return fail(&e),
            };
            let Some(ep) = switchyard::runtime::internal::ping_entry_point(&loaded.config) else {
                return fail("please enable `ping` to use the health check");
            };
            let Some(address) = loaded
                .config
                .entry_points
                .get(&ep)
                .and_then(|e| e.address.clone())
            else {
                return fail(&format!("ping entry point {ep:?} doesn't exist"));
            };
            let (addr, _) = match switchyard::http::entrypoint::parse_address(&address) {
                Ok(a) => a,
                Err(e) => return fail(&e),
            };
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                addr.ip().to_string()
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            format!("http://{host}:{}/ping", addr.port())
        }
    };
    match get_status(&url) {
        Ok(200) => {
            println!("OK: {url}");
            ExitCode::SUCCESS
        }
        Ok(code) => fail(&format!("bad healthcheck status: {code} from {url}")),
        Err(e) => fail(&format!("error while calling healthcheck {url}: {e}")),
    }
}

/// A minimal HTTP/1.1 GET returning the status code (plain http only).
fn get_status(url: &str) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: switchyard-healthcheck\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("invalid response {head:?}"))
}
