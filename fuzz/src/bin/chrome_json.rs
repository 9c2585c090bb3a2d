//! AFL target: one input read as an uploaded recording
//! ([`tracepipe_fuzz::read_recording`]), starting from corpus/chrome_json.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = tracepipe_fuzz::read_recording(data);
    });
}
