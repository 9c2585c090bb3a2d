pub mod stripe_proxy;
