"""The media library (the role PeerTube's `packages/ffmpeg` plays): settings-free, it
imports no service. Running ffmpeg (`run`), probing with PyAV (`probe`, `inspect`),
the PRD ladder as data (`ladder`), and pure command builders for encodes (`encode`),
thumbnails (`thumbnail`) and HLS (`hls`), sharing one video normalisation (`filters`).
"""
