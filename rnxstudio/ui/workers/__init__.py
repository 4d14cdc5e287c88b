"""Thread workers: QObjects living on their own QThread that drive the Qt-free ml/ code."""
