"""The OpenID Connect provider: discovery, JWKS, /authorize with the waiting hold, tokens."""
