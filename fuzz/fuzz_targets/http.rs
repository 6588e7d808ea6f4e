//! HTTP: `parse_head` and `Url::parse` on the input; then an `Exchange` fed the input cut into
//! pieces (`[len u8][bytes]`, a zero length meaning "the server closed"), and a
//! `ChunkedDecoder` fed the same pieces. Never a panic; the sink never receives bytes past the
//! size it allows; a redirect's location resolves or fails cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netloader_proto::http::{
    ChunkedDecoder, Event, Exchange, UrlText, parse_head, redirect_target,
};
use netloader_proto::tftp::SliceSink;
use netloader_proto::url::Url;

fuzz_target!(|input: &[u8]| {
    let _ = parse_head(input);
    if let Ok(text) = core::str::from_utf8(input) {
        let _ = Url::parse(text);
    }
    let mut file = [0u8; 8192];
    let mut sink = SliceSink::new(&mut file);
    let mut exchange = Exchange::new();
    let mut decoder = ChunkedDecoder::new();
    let mut rest = input;
    while let Some((&len, tail)) = rest.split_first() {
        let (piece, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let _ = decoder.decode(piece);
        let event = if len == 0 {
            exchange.on_close().map(|e| (0, e))
        } else {
            exchange.on_bytes(piece, &mut sink)
        };
        match event {
            Ok((_, Event::Redirect)) => {
                let current = Url::parse("http://fuzz.test/a/b").unwrap();
                let mut out = UrlText::new();
                if let Some(location) = exchange.location() {
                    let _ = redirect_target(&current, location, &mut out);
                }
                break;
            }
            Ok((_, Event::Done { .. })) | Err(_) => break,
            Ok((_, Event::More)) => {}
        }
    }
});
