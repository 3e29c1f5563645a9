"""transcriber: faster-whisper on CPU (int8, VAD, word timestamps), offline models, TXT/SRT/VTT/JSON."""
