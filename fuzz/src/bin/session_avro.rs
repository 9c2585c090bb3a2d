//! AFL target: one input decoded as a stored Session
//! ([`tracepipe_fuzz::decode_stored_session`]), starting from corpus/session_avro.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = tracepipe_fuzz::decode_stored_session(data);
    });
}
