//! Requests as raw bytes, for clients that misbehave on the socket (hang up right after the last
//! byte, half-close, trickle, go silent), which no HTTP client library can be made to do.

use crate::md5_hex;

/// Multipart boundary of the forms built here.
pub const BOUNDARY: &str = "partupRawBoundary";

/// The form of one part: fields `uploadId`, `partNumber`, `md5`, then `content` with `bytes`.
pub fn part_form(upload_id: &str, part_number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut form = part_form_head(upload_id, part_number, &md5_hex(bytes));
    form.extend_from_slice(bytes);
    form.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    form
}

/// A part form up to the first byte of `content` (the rest is the caller's to send, or not).
pub fn part_form_head(upload_id: &str, part_number: u32, md5: &str) -> Vec<u8> {
    let field = |name: &str, value: &str| {
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    format!(
        "{}{}{}--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"blob\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        field("uploadId", upload_id),
        field("partNumber", &part_number.to_string()),
        field("md5", md5),
    )
    .into_bytes()
}

/// The request head of a part upload whose form is `content_length` bytes.
pub fn part_request_head(content_length: usize) -> Vec<u8> {
    format!(
        "POST /v1/multipart/parallel/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {content_length}\r\n\r\n"
    )
    .into_bytes()
}

/// A whole part upload request: head and form.
pub fn part_request(upload_id: &str, part_number: u32, bytes: &[u8]) -> Vec<u8> {
    let form = part_form(upload_id, part_number, bytes);
    let mut request = part_request_head(form.len());
    request.extend_from_slice(&form);
    request
}

/// A whole JSON request to an endpoint of the API (`uploadComplete`, `listParts`, …).
pub fn json_request(endpoint: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /v1/multipart/parallel/{endpoint} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `GET /healthz`, kept alive.
pub const HEALTHZ_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Reads one response with a `Content-Length` body: its status and its body as text. An error if
/// the connection closes first.
pub async fn read_response(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
) -> std::io::Result<(u16, String)> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let status = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .unwrap_or_default();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                let body = &received[end + 4..end + 4 + length];
                return Ok((status, String::from_utf8_lossy(body).into_owned()));
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

/// A connection to the server on `port` of this machine.
pub async fn connect(port: u16) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap()
}

/// A connection that was served once (`GET /healthz`) and now stays open, idle.
pub async fn served_and_kept(port: u16) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = connect(port).await;
    stream.write_all(HEALTHZ_REQUEST).await.unwrap();
    let (status, _) = read_response(&mut stream).await.unwrap();
    assert_eq!(status, 200);
    stream
}

/// Starts a part of upload `upload_id` on `stream`: the request head declaring 1 MiB of content,
/// the form up to `content`, and `content_bytes` bytes of it; the rest is the caller's to send.
pub async fn start_part(
    stream: &mut (impl tokio::io::AsyncWrite + Unpin),
    upload_id: &str,
    part_number: u32,
    content_bytes: usize,
) {
    use tokio::io::AsyncWriteExt;
    let form_head = part_form_head(upload_id, part_number, &"0".repeat(32));
    let declared = form_head.len() + (1 << 20) + 64;
    stream
        .write_all(&part_request_head(declared))
        .await
        .unwrap();
    stream.write_all(&form_head).await.unwrap();
    stream.write_all(&vec![b'x'; content_bytes]).await.unwrap();
}

/// Waits until the server closes the connection (end of file or reset), discarding what it
/// sends; when it did, or `None` if it is still open after `within`.
pub async fn wait_closed_by_server(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    within: std::time::Duration,
) -> Option<std::time::Instant> {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(std::time::Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Bytes the kernel holds for the server's end of `client`'s connection that the server has not
/// read yet (`rx_queue` of `/proc/net/tcp*`): 0 once the server process has read what was sent.
/// `None` while the kernel lists no such socket.
pub fn unread_by_server(client: &tokio::net::TcpStream) -> Option<u64> {
    let (local, peer) = (client.local_addr().ok()?, client.peer_addr().ok()?);
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).ok()?;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port_of = |address: &str| {
                address
                    .rsplit(':')
                    .next()
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            };
            // The server's socket: its local port is the server's, its remote the client's.
            if port_of(fields[1]) == Some(peer.port()) && port_of(fields[2]) == Some(local.port()) {
                let rx_queue = fields[4].split(':').nth(1)?;
                return u64::from_str_radix(rx_queue, 16).ok();
            }
        }
    }
    None
}
