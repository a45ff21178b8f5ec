"""Reports: weekly charts, e-mail, CSV/XLSX export, bulletin draft."""
