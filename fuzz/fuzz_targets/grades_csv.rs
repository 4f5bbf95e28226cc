//! The grades CSV reader.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vigil_feed::fuzzing::grades_csv(data);
});
