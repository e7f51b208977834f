//! The stack's URLs: the ones it hands out (`/config.json`, the token
//! issuer, presigned links, what `make dev` prints) and the ones it calls
//! itself. They differ when the stack listens on every interface for a
//! phone or an emulator on the network: devices are told `--public-url`'s
//! host, while the process calls itself on the loopback address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::Uri;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--public-url must be http(s)://host[:port] with no path: {0}")]
pub struct PublicUrlError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    /// GraphQL, the token endpoint and the issuer, as devices reach them.
    pub http: String,
    /// The WebSocket API, as devices reach it.
    pub ws: String,
    /// The S3 API (presigned uploads and downloads), as devices reach it.
    pub s3: String,
    /// GraphQL's listener, as this process reaches it.
    pub local_http: String,
    /// The WebSocket listener (and `@connections`), as this process reaches it.
    pub local_ws: String,
}

impl Urls {
    /// `public`: what devices use to reach this machine's HTTP listener
    /// (the WebSocket and S3 APIs are on the same host, on their own ports).
    /// Without it, a listener on every interface (0.0.0.0 or ::) is named
    /// by the loopback address, which works on this machine only.
    pub fn new(
        public: Option<&str>,
        http: SocketAddr,
        ws: SocketAddr,
        s3: SocketAddr,
    ) -> Result<Urls, PublicUrlError> {
        let local = |addr: SocketAddr| SocketAddr::new(reachable(addr.ip()), addr.port());
        let local_http = format!("http://{}", local(http));
        let local_ws = format!("ws://{}", local(ws));
        let Some(public) = public else {
            return Ok(Urls {
                http: local_http.clone(),
                ws: local_ws.clone(),
                s3: format!("http://{}", local(s3)),
                local_http,
                local_ws,
            });
        };
        let bad = || PublicUrlError(public.to_string());
        let uri: Uri = public.trim_end_matches('/').parse().map_err(|_| bad())?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad()),
        };
        let authority = uri.authority().ok_or_else(bad)?;
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err(bad());
        }
        let host = authority.host();
        let (web, sockets) = if secure {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        Ok(Urls {
            http: format!("{web}://{authority}"),
            ws: format!("{sockets}://{host}:{}", ws.port()),
            s3: format!("{web}://{host}:{}", s3.port()),
            local_http,
            local_ws,
        })
    }
}

/// An address this process can call: the loopback one for "every interface".
fn reachable(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(ip: [u8; 4]) -> (SocketAddr, SocketAddr, SocketAddr) {
        (
            SocketAddr::from((ip, 4000)),
            SocketAddr::from((ip, 4001)),
            SocketAddr::from((ip, 4003)),
        )
    }

    #[test]
    fn without_a_public_url_the_stack_is_named_by_where_it_listens() {
        let (h, w, s) = addrs([127, 0, 0, 1]);
        let urls = Urls::new(None, h, w, s).unwrap();
        assert_eq!(urls.http, "http://127.0.0.1:4000");
        assert_eq!(urls.ws, "ws://127.0.0.1:4001");
        assert_eq!(urls.s3, "http://127.0.0.1:4003");
        assert_eq!(urls.local_http, urls.http);
        assert_eq!(urls.local_ws, urls.ws);
    }

    #[test]
    fn every_interface_is_never_handed_out_as_an_address() {
        let (h, w, s) = addrs([0, 0, 0, 0]);
        let urls = Urls::new(None, h, w, s).unwrap();
        assert_eq!(urls.http, "http://127.0.0.1:4000");
        assert_eq!(urls.s3, "http://127.0.0.1:4003");
        let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 4000));
        assert_eq!(
            Urls::new(None, v6, v6, v6).unwrap().local_http,
            "http://[::1]:4000"
        );
    }

    #[test]
    fn a_public_url_names_every_service_by_its_host_and_the_process_calls_itself_locally() {
        let (h, w, s) = addrs([0, 0, 0, 0]);
        let urls = Urls::new(Some("http://192.168.1.20:4000/"), h, w, s).unwrap();
        assert_eq!(urls.http, "http://192.168.1.20:4000");
        assert_eq!(urls.ws, "ws://192.168.1.20:4001");
        assert_eq!(urls.s3, "http://192.168.1.20:4003");
        assert_eq!(urls.local_http, "http://127.0.0.1:4000");
        assert_eq!(urls.local_ws, "ws://127.0.0.1:4001");
        let tls = Urls::new(Some("https://chat.example.test"), h, w, s).unwrap();
        assert_eq!(tls.http, "https://chat.example.test");
        assert_eq!(tls.ws, "wss://chat.example.test:4001");
    }

    #[test]
    fn a_public_url_that_is_not_an_origin_is_refused() {
        let (h, w, s) = addrs([0, 0, 0, 0]);
        for bad in [
            "192.168.1.20:4000",
            "ftp://host",
            "http://host/chat",
            "http://host?x=1",
            "",
        ] {
            assert_eq!(
                Urls::new(Some(bad), h, w, s),
                Err(PublicUrlError(bad.to_string())),
                "{bad}"
            );
        }
    }
}
