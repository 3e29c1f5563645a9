"""transcoder: the H.264 ladder (MP4 per rendition) and the MP3, one ffmpeg decode per job."""
