//! Channel frames as one side writes them, read by the channel's own reader.

use std::future::Future as _;

/// Runs `f` over the frames in `data`, a stream of channel frames as one
/// side writes them, read by the channel's own frame reader; stops at the
/// first error or the end.
pub(crate) fn each_frame<T>(mut data: &[u8], mut f: impl FnMut(T))
where
    T: serde::de::DeserializeOwned,
{
    // `&[u8]` never makes a read wait, so one poll runs the reader to
    // its answer: no runtime needed.
    loop {
        let read = minikms_edl::read_message::<T, _>(&mut data);
        let mut read = std::pin::pin!(read);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match read.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(Some(message))) => f(message),
            _ => return,
        }
    }
}
