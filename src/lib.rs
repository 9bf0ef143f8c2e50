//! Socket.IWA
