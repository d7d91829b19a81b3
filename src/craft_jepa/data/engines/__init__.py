"""Recorders that play real game engines and write VPT-format segments (optional extra `engine`)."""
