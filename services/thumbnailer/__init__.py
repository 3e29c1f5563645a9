"""thumbnailer: thumb_{00,25,50,75,100}.jpg and the submitter's custom thumbnail."""
