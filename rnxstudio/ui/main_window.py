"""The main window: builds the application context (session, navigator, canvas, job engine,
active model, status bar, settings, actions), installs the features in order, and shuts them
down in reverse. Behaviour lives in the features (editing.py, prelabel.py, training/ …) and the
services they share; this module only assembles and connects things.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QTreeView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from rnxstudio.core.model import ImageStatus
from rnxstudio.ui.actions import ACTIONS, MENUS, build_actions
from rnxstudio.ui.canvas import ImageCanvas
from rnxstudio.ui.context import Actions, AppContext, StatusBar
from rnxstudio.ui.controller import ProjectController
from rnxstudio.ui.device import DeviceProbe
from rnxstudio.ui.dock_sizes import DockSizes
from rnxstudio.ui.dialogs import ask_quit_while_busy, show_about, show_shortcuts
from rnxstudio.ui.features import Features, install_features
from rnxstudio.ui.file_list import STATUS_LABELS
from rnxstudio.ui.jobs import JobEngine
from rnxstudio.ui.models import ActiveModel
from rnxstudio.ui.session_qt import SessionQt
from rnxstudio.ui.settings import app_settings

MAX_RECENT = 10
# Closing waits this long for the job lanes (a forward pass or a training step in flight, the run's
# resumable checkpoint); a lane stuck past it is logged with its stack and left behind (a daemon thread)
# so the window always closes.
SHUTDOWN_JOIN_S = 300.0
LONG_JOBS = {"prelabel": "pre-labelling", "train": "training", "compare": "the backbone comparison",
             "evaluate": "evaluation"}
"""Job kinds a person started and may not want to lose by quitting (quit asks first)."""
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("rnxstudio")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else app_settings()
        self.last_error: tuple[str, str] | None = None
        self._closing = False
        self._asking = False
        self.ask_before_quit = True  # False: quit cancels running jobs without asking (SIGTERM)

        self.sessions = SessionQt(self)
        self.controller = ProjectController(self.sessions, self)
        self.canvas = ImageCanvas(self)
        self.setCentralWidget(self.canvas)
        self.actions_by_id: dict[str, QAction] = build_actions(self)
        self.jobs = JobEngine(parent=self)
        self._build_file_dock()
        self._build_status_bar()
        status = StatusBar(self.statusBar(), lambda title, message: self.show_error(title, message))
        self.ctx = AppContext(window=self, session=self.sessions, nav=self.controller, canvas=self.canvas,
                              jobs=self.jobs, models=ActiveModel(self.jobs, self), status=status,
                              settings=self.settings, actions=Actions(self.actions_by_id))
        self.handlers = self.ctx.actions.handlers
        self._register_core_handlers()

        # the window's own reactions connect first, so features see the canvas already updated
        c = self.controller
        c.error.connect(self.show_error)
        c.project_opened.connect(self._on_project_opened)
        c.current_changed.connect(self._on_current_changed)
        c.record_changed.connect(self._on_record_changed)
        c.image_ready.connect(self._on_image_ready)
        self.sessions.categories_changed.connect(self._fill_class_filter)
        self.canvas.zoom_changed.connect(self._on_zoom_changed)
        self.canvas.cursor_moved.connect(self._on_cursor_moved)
        self.features: Features = install_features(self.ctx, file_view=self.file_view)
        self._build_menus_and_toolbar()
        self.dock_sizes = DockSizes(self)
        self.dock_sizes.watch()
        self._restore_geometry()

    # ---- construction -------------------------------------------------------------------
    def _build_file_dock(self) -> None:
        dock = QDockWidget("Images", self)
        dock.setObjectName("dock_images")
        box = QWidget(dock)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        self.status_filter = QComboBox(box)
        self.status_filter.setToolTip("Show only images with this status")
        for status, label in STATUS_LABELS.items():
            self.status_filter.addItem(label, status)
        self.class_filter = QComboBox(box)
        self.class_filter.setToolTip("Show only images that contain a box of this class")
        self.search = QLineEdit(box)
        self.search.setPlaceholderText("Search by name…")
        self.search.setClearButtonEnabled(True)
        # A QTreeView with uniform row heights (not a QListView): QListView lays out every row on
        # each change, which made "next image" cost O(rows) — 100+ ms at 10,000 images.
        self.file_view = QTreeView(box)
        self.file_view.setModel(self.controller.files)
        self.file_view.setUniformRowHeights(True)
        self.file_view.setRootIsDecorated(False)
        self.file_view.setHeaderHidden(True)
        self.file_view.setItemsExpandable(False)
        self.file_view.setEditTriggers(QTreeView.NoEditTriggers)
        for w in (self.status_filter, self.class_filter, self.search, self.file_view):
            lay.addWidget(w)
        dock.setWidget(box)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        self.file_dock = dock
        self.file_view.selectionModel().currentChanged.connect(self._on_list_clicked)
        self.status_filter.currentIndexChanged.connect(self._apply_filter)
        self.class_filter.currentIndexChanged.connect(self._apply_filter)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.controller.files.modelReset.connect(self._show_position)  # a filter changes the count

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.sb_index = QLabel("", self)
        self.sb_size = QLabel("", self)
        self.sb_zoom = QLabel("", self)
        self.sb_cursor = QLabel("", self)
        self.sb_device = QLabel("", self)
        for w in (self.sb_index, self.sb_size, self.sb_zoom, self.sb_cursor, self.sb_device):
            sb.addPermanentWidget(w)
        # importing torch takes seconds: do it on a plain thread so the window shows at once
        self._device_probe = DeviceProbe(self)
        self._device_probe.found.connect(lambda label: self.sb_device.setText(f"device: {label}"))
        self._device_probe.start()

    def _register_core_handlers(self) -> None:
        h = self.handlers
        h["open_folder"] = self.open_folder_dialog
        h["open_video"] = self.open_video_dialog
        h["open_project"] = self.open_project_dialog
        h["open_demo"] = self.open_demo
        h["open_demo_video"] = self.open_demo_video
        h["quit"] = self.close
        h["fit"] = self.canvas.fit
        h["zoom_100"] = self.canvas.zoom_100
        h["zoom_in"] = self.canvas.zoom_in
        h["zoom_out"] = self.canvas.zoom_out
        h["next_image"] = lambda: self.controller.step(+1)
        h["prev_image"] = lambda: self.controller.step(-1)
        for theme in ("system", "light", "dark"):
            h[f"theme_{theme}"] = lambda t=theme: self.set_theme(t)
        h["shortcuts"] = lambda: show_shortcuts(self)
        h["about"] = lambda: show_about(self)

    def _build_menus_and_toolbar(self) -> None:
        """Only actions with a handler are shown: no dead menu entries."""
        menus: dict[str, QMenu] = {name: self.menuBar().addMenu(f"&{name}") for name in MENUS}
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        self.recent_menu = QMenu("Open &Recent", self)
        for spec in ACTIONS:
            handler = self.handlers.get(spec.id)
            act = self.actions_by_id[spec.id]
            if handler is None:
                act.setVisible(False)
                act.setEnabled(False)
                continue
            if spec.checkable:
                act.toggled.connect(handler)
            else:
                act.triggered.connect(lambda _checked=False, f=handler: f())
            menus[spec.menu].addAction(act)
            if spec.id == "open_demo":
                menus["File"].addMenu(self.recent_menu)
            if spec.toolbar:
                tb.addAction(act)
        for name, menu in menus.items():
            if name == "View":
                menu.addSeparator()
                menu.addAction(self.file_dock.toggleViewAction())
                for dock in self.findChildren(QDockWidget):
                    if dock is not self.file_dock:
                        menu.addAction(dock.toggleViewAction())
            menu.menuAction().setVisible(bool(menu.actions()))
        self._refresh_recent_menu()

    def set_theme(self, theme: str) -> None:
        from PySide6.QtWidgets import QApplication

        from rnxstudio.ui.theme import apply_theme

        self.settings.setValue("theme", theme)
        apply_theme(QApplication.instance(), theme)

    # ---- opening ------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        ok = self.controller.open_path(path)
        if ok:
            self._remember_recent(str(Path(path).resolve()))
        return ok

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self._last_dir())
        if path:
            self.open_path(path)

    def open_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self._last_dir(), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", self._last_dir(), "rnxstudio projects (*.rnxproj);;All files (*)"
        )
        if path:
            self.open_path(path)

    def open_demo(self) -> bool:
        from rnxstudio.ui.demo_project import prepare_demo

        self.statusBar().showMessage("Preparing the demo project…")
        try:
            path = prepare_demo()
        except Exception as exc:  # noqa: BLE001
            self.show_error("Demo project", f"Could not create the demo project: {exc}")
            return False
        return self.open_path(path)

    def open_demo_video(self) -> bool:
        from rnxstudio.ui.demo_project import prepare_demo

        try:
            images = prepare_demo()
        except Exception as exc:  # noqa: BLE001
            self.show_error("Demo video", f"Could not create the demo data: {exc}")
            return False
        return self.open_path(images.parent / "video" / "shapes.avi")

    def _last_dir(self) -> str:
        recent = self.recent_paths()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    # ---- drag and drop --------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_path(urls[0].toLocalFile())

    # ---- recent + geometry --------------------------------------------------------------
    def recent_paths(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent_paths() if p != path]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_paths():
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _c=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent_paths()))

    def _restore_geometry(self) -> None:
        geo = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1400, 900)
        if state is not None:
            self.restoreState(state)

    # ---- reactions ------------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """Shown once, non-blocking (window-modal), and kept for tests in ``last_error``."""
        self.last_error = (title, message)
        self.statusBar().showMessage(f"{title}: {message}", 10000)
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def _on_project_opened(self, store) -> None:
        name = Path(self.controller.source_path or "").name
        self.setWindowTitle(f"{name} — rnxstudio")
        self._search_timer.stop()  # the list already shows the new project unfiltered
        filters = (self.search, self.status_filter, self.class_filter)
        for w in filters:
            w.blockSignals(True)
        self.search.clear()
        self.status_filter.setCurrentIndex(0)
        self.class_filter.setCurrentIndex(0)
        for w in filters:
            w.blockSignals(False)
        self._fill_class_filter()
        n = len(self.controller.files.ids())
        self.statusBar().showMessage(f"Opened {name}: {n} images" if n else "This project has no images", 5000)

    def _fill_class_filter(self) -> None:
        store, keep = self.controller.store, self.class_filter.currentData()
        self.class_filter.blockSignals(True)
        self.class_filter.clear()
        self.class_filter.addItem("All classes", None)
        for cat in store.categories() if store is not None else []:
            self.class_filter.addItem(cat.name, cat.id)
        self.class_filter.setCurrentIndex(max(0, self.class_filter.findData(keep)))
        self.class_filter.blockSignals(False)
        if self.class_filter.currentData() != keep:  # the class shown was deleted or merged
            self._apply_filter()

    def _apply_filter(self) -> None:
        status = self.status_filter.currentData()  # Qt hands a str-based enum back as a plain str
        current = self.controller.current
        self.controller.files.set_filter(
            status=ImageStatus(status) if status else None,
            category_id=self.class_filter.currentData(),
            search=self.search.text().strip() or None,
        )
        if current is not None and self.controller.files.row_of(current.id) is not None:
            self._select_row(self.controller.files.row_of(current.id))

    def _on_list_clicked(self, index, _previous) -> None:
        if index.isValid():
            image_id = self.controller.files.id_at(index.row())
            cur = self.controller.current
            if cur is None or cur.id != image_id:
                self.controller.set_current(image_id)

    def _select_row(self, row: int | None) -> None:
        if row is None:
            return
        idx = self.controller.files.index(row)
        sel = self.file_view.selectionModel()
        if sel.currentIndex() != idx:
            # no blockSignals here: a view kept in the dark repaints and re-lays out all rows
            # (O(rows) per step); _on_list_clicked ignores the echo for the current image
            sel.setCurrentIndex(idx, sel.SelectionFlag.ClearAndSelect)
        self.file_view.scrollTo(idx)

    def _on_current_changed(self, rec) -> None:
        n = len(self.controller.files.ids())
        if rec is None:
            self.canvas.set_image(None)
            self.sb_index.setText("")
            self.sb_size.setText("")
            return
        self._select_row(self.controller.files.row_of(rec.id))
        self._show_position()
        self.sb_size.setText(f"{rec.width}×{rec.height}" if rec.width else "")

    def _show_position(self) -> None:
        """"3 / 6": the current image's place in the list as filtered now."""
        rec, n = self.controller.current, len(self.controller.files.ids())
        row = self.controller.files.row_of(rec.id) if rec is not None else None
        self.sb_index.setText("" if rec is None else f"{row + 1} / {n}" if row is not None else f"– / {n}")

    def _on_record_changed(self, rec) -> None:
        self.sb_size.setText(f"{rec.width}×{rec.height}" if rec.width else "")

    def _on_image_ready(self, rec, rgb, error) -> None:
        if error:
            self.canvas.set_image(None, error=f"Cannot read {rec.display_name}: {error}")
        else:
            self.canvas.set_image(rgb)
        self.sb_size.setText(f"{rec.width}×{rec.height}" if rec.width else "")

    def _on_zoom_changed(self, zoom: float) -> None:
        self.sb_zoom.setText(f"{zoom * 100:.0f} %")

    def _on_cursor_moved(self, x: float, y: float) -> None:
        self.sb_cursor.setText(f"x {x:.0f}, y {y:.0f}")

    # ---- shutdown -------------------------------------------------------------------------
    def running_work(self) -> list[str]:
        """What a person started that is still running (pre-labelling many images, training)."""
        return [label for kind, label in LONG_JOBS.items() if self.jobs.active(kind) is not None]

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if not self._closing and self.ask_before_quit and self.running_work():
            # asked once: a second Quit while the question is open is the same request
            if self._asking or not self._confirm_quit():
                event.ignore()
                return
        if not self._closing:
            self._closing = True
            self.settings.setValue("geometry", self.saveGeometry())
            self.settings.setValue("window_state", self.saveState())
            self.shutdown()
        event.accept()

    def close_without_asking(self) -> None:
        """Close now, cancelling running jobs (SIGTERM / Ctrl+C in the terminal)."""
        self.ask_before_quit = False
        self.close()

    def _confirm_quit(self) -> bool:
        self._asking = True
        try:
            return ask_quit_while_busy(self, self.running_work())
        finally:
            self._asking = False

    def shutdown(self) -> None:
        """The one shutdown order: features (reverse install order), then the job engine (every
        lane joined: a forward pass or training step in flight finishes, a run leaves its
        resumable checkpoint), the background torch import, the decoder threads, and last the
        project (closed after every writer has stopped)."""
        self.features.shutdown()
        self.jobs.shutdown(timeout_s=SHUTDOWN_JOIN_S)
        self.ctx.models.shutdown()
        self.controller.shutdown()
