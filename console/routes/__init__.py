"""One module per page group; each exports ``ROUTES``."""
