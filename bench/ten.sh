true; true; true; true; true; true; true; true; true; true
