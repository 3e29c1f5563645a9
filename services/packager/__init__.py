"""packager: HLS media playlists per rendition (stream copy), the multivariant playlist
(rewritten as variants become ready), and the job's metadata.json at the end."""
