# placeholder replaced below
set(RDKit_FOUND FALSE)
