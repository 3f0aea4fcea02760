//! partup's browser uploader (skeleton; built out in issue 3).
