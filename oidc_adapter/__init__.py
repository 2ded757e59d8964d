"""OIDC Waiting Room: a virtual waiting room delivered as an OpenID Connect IdP."""

__version__ = "0.1.0"
