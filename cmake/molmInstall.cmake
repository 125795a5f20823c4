# Installation and the exported package (refined by the packaging work).
