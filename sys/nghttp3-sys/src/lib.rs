//! Raw FFI bindings to nghttp3 (the version in vendor/pins.txt). Safe wrappers live in the `socket-iwa` crate.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

#[cfg(test)]
mod tests {
    /// The library that is really linked (the pinned build, or the system one
    /// under SOCKET_IWA_SYSTEM_NGHTTP3=1) answers with the version the build
    /// script expected: the pin, or what pkg-config reported.
    #[test]
    fn linked_library_reports_the_expected_version() {
        // SAFETY: nghttp3_version returns a pointer to static data.
        let v = unsafe { std::ffi::CStr::from_ptr((*super::nghttp3_version(0)).version_str) };
        assert_eq!(v.to_str().unwrap(), env!("SOCKET_IWA_NGHTTP3_EXPECTED"));
    }
}
