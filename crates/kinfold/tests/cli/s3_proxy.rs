//! A loopback proxy in front of the test S3 server (moto) that refuses or holds the requests a
//! test picks, to put a backup's upload or a drill's download in the state under test.

/// What a test proxy in front of the S3 server does with a request.
pub(crate) enum Turn {
    /// Passes it on as it came.
    Forward,
    /// Answers `500` for the storage, which never sees it.
    Refuse,
    /// Waits this long, then passes it on.
    Hold(std::time::Duration),
}

/// A loopback proxy in front of `upstream` that does with each request what `turn` says of
/// it, and forwards the rest as it came.
pub(crate) async fn proxy_to(
    upstream: String,
    turn: impl Fn(&axum::http::request::Parts) -> Turn + Clone + Send + Sync + 'static,
) -> String {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::header;
    use axum::response::Response;
    /// Set again by the side that sends the body.
    const HOP: [header::HeaderName; 3] = [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ];
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: Request| {
        let (client, upstream, turn) = (client.clone(), upstream.clone(), turn.clone());
        async move {
            let (parts, body) = req.into_parts();
            match turn(&parts) {
                Turn::Forward => {}
                Turn::Refuse => {
                    return Response::builder()
                        .status(500)
                        .body(Body::from("<Error><Code>InternalError</Code></Error>"))
                        .unwrap()
                }
                Turn::Hold(d) => tokio::time::sleep(d).await,
            }
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut sent = client.request(parts.method.clone(), format!("{upstream}{path}"));
            for (k, v) in parts.headers.iter().filter(|(k, _)| !HOP.contains(k)) {
                sent = sent.header(k, v);
            }
            let answer = sent.body(body).send().await.unwrap();
            let mut out = Response::builder().status(answer.status());
            for (k, v) in answer.headers().iter().filter(|(k, _)| !HOP.contains(k)) {
                out = out.header(k, v);
            }
            out.body(Body::from(answer.bytes().await.unwrap())).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
