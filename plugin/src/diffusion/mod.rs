//! Latent video diffusion (no OFX here).

pub mod scheduler;
