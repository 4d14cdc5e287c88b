"""The action table: one source of truth for menus, tool bar, shortcuts, tooltips and the
"Keyboard shortcuts" dialog.

Each :class:`ActionSpec` names the action; :func:`build_actions` turns the table into QActions
owned by a parent widget and connects nothing — the main window wires handlers by id.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from rnxstudio.ui.icons import icon


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    menu: str  # "File", "Edit", "View", "Go", "Model", "Help"
    icon: str = ""
    shortcuts: tuple[str, ...] = ()
    tip: str = ""
    checkable: bool = False
    toolbar: bool = False
    keys: tuple[str, ...] = ()
    """Keys and gestures a widget handles itself (the canvas, the lists): listed in F1 and the
    tooltip as written, never bound as QAction shortcuts."""
    menu_entry: bool = True
    """False for key-only rows (1–9, arrow nudges, Esc, Space-drag): in F1, not in a menu."""


ACTIONS: tuple[ActionSpec, ...] = (
    # File
    ActionSpec("open_folder", "&Open Folder…", "File", "fa5s.folder-open", ("Ctrl+O",), "Open an image folder", toolbar=True),
    ActionSpec("open_video", "Open &Video…", "File", "fa5s.film", ("Ctrl+Shift+O",), "Open a video file"),
    ActionSpec("open_project", "Open &Project File…", "File", "fa5s.database", ("Ctrl+Alt+O",), "Open a .rnxproj project file"),
    ActionSpec("open_demo", "Open &Demo Project", "File", "fa5s.shapes", ("Ctrl+Alt+D",), "Open the bundled synthetic demo project"),
    ActionSpec("open_demo_video", "Open Demo &Video", "File", "fa5s.video", ("Ctrl+Alt+V",), "Open the synthetic demo video (150 frames)"),
    ActionSpec("export_coco", "Export &COCO…", "File", "fa5s.file-export", ("Ctrl+E",), "Export labels as COCO JSON", toolbar=True),
    ActionSpec("export_voc", "Export Pascal &VOC…", "File", "fa5s.file-code", ("Ctrl+Alt+E",), "Export labels as Pascal VOC XML"),
    ActionSpec("export_yolo", "Export &YOLO…", "File", "fa5s.file-alt", ("Ctrl+Alt+Y",), "Export labels as YOLO txt"),
    ActionSpec("import_folder", "Import &Folder…", "File", "fa5s.folder-plus", ("Ctrl+Alt+I",), "Open an unzipped export of another tool (Label Studio, Roboflow, CVAT, labelme, VOC, COCO, YOLO)"),
    ActionSpec("import_labels", "&Import Labels…", "File", "fa5s.file-import", ("Ctrl+I",), "Import COCO / VOC / YOLO labels"),
    ActionSpec("quit", "&Quit", "File", "fa5s.sign-out-alt", ("Ctrl+Q",), "Quit rnxstudio"),
    # Edit
    ActionSpec("undo", "&Undo", "Edit", "fa5s.undo", ("Ctrl+Z",), "Undo the last edit", toolbar=True),
    ActionSpec("redo", "&Redo", "Edit", "fa5s.redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", toolbar=True),
    ActionSpec("draw_box", "&Create Box", "Edit", "fa5s.vector-square", ("W",), "Draw a new box with the current class", toolbar=True),
    ActionSpec("delete_boxes", "&Delete Boxes", "Edit", "fa5s.trash", ("Del", "Backspace"), "Delete the selected boxes"),
    ActionSpec("duplicate_boxes", "D&uplicate Boxes", "Edit", "fa5s.clone", ("Ctrl+D",), "Duplicate the selected boxes"),
    ActionSpec("copy_boxes", "&Copy Boxes", "Edit", "fa5s.copy", ("Ctrl+C",), "Copy the selected boxes"),
    ActionSpec("paste_boxes", "&Paste Boxes", "Edit", "fa5s.paste", ("Ctrl+V",), "Paste copied boxes onto this image"),
    ActionSpec("paste_previous", "Paste &Previous Image's Boxes", "Edit", "fa5s.history", ("Ctrl+Shift+V",), "Copy all boxes of the previous image/frame onto this one"),
    ActionSpec("select_all", "Select &All Boxes", "Edit", "fa5s.object-group", ("Ctrl+A",), "Select every box"),
    ActionSpec("cycle_selection", "Cycle &Selection", "Edit", "fa5s.sync", ("Tab",), "Select the next box"),
    ActionSpec("accept", "&Accept Predictions", "Edit", "fa5s.check", ("Return", "Enter"), "Turn selected predictions into accepted boxes", toolbar=True),
    ActionSpec("accept_all", "Accept All ≥ &Threshold", "Edit", "fa5s.check-double", ("Ctrl+Return",), "Accept every prediction at or above the confidence slider"),
    ActionSpec("verify_accepts", "Verify Accepts Shown Predictions", "Edit", "fa5s.clipboard-check", ("Ctrl+Alt+A",), "Verifying an image accepts the predictions showing (at or above the confidence slider); off: ask each time", checkable=True),
    ActionSpec("reject", "Re&ject Predictions", "Edit", "fa5s.times", ("R",), "Remove the selected predictions"),
    ActionSpec("change_class", "Change &Class…", "Edit", "fa5s.tag", ("E",), "Pick a class for the selected boxes (type to filter)"),
    ActionSpec("reject_image_predictions", "Reject All Predictions on This &Image", "Edit", "fa5s.ban", ("Ctrl+Shift+Del",), "Remove every prediction of this image (undoable)"),
    ActionSpec("class_keys", "Relabel selected boxes / pick the class for new boxes", "Edit", "fa5s.tag", (), "With boxes selected: give them class N; else: draw the next box as class N", keys=tuple("123456789"), menu_entry=False),
    ActionSpec("nudge", "Nudge selected boxes 1 px (Shift: 10 px)", "Edit", "fa5s.arrows-alt", (), "Move the selected boxes on the image", keys=("Left", "Right", "Up", "Down", "Shift+Arrow"), menu_entry=False),
    ActionSpec("escape", "Cancel the gesture / leave draw mode / clear the selection", "Edit", "fa5s.times-circle", (), "Escape on the image", keys=("Esc",), menu_entry=False),
    # View
    ActionSpec("fit", "&Fit to Window", "View", "fa5s.expand", ("F",), "Scale the image to fit", toolbar=True),
    ActionSpec("zoom_100", "Actual &Size", "View", "fa5s.search", ("Ctrl+0",), "Show the image at 100 %"),
    ActionSpec("zoom_in", "Zoom &In", "View", "fa5s.search-plus", ("Ctrl++", "Ctrl+="), "Zoom in"),
    ActionSpec("zoom_out", "Zoom &Out", "View", "fa5s.search-minus", ("Ctrl+-",), "Zoom out"),
    ActionSpec("toggle_predictions", "Show &Predictions", "View", "fa5s.eye", ("P",), "Show or hide predicted boxes", checkable=True),
    ActionSpec("only_current_class", "Only &Current Class", "View", "fa5s.filter", ("Ctrl+Shift+F",), "Show only boxes of the current class", checkable=True),
    ActionSpec("toggle_crowd", "Show C&rowd Regions", "View", "fa5s.users", ("Ctrl+Shift+C",), "Show or hide COCO crowd regions (hatched; not selectable)", checkable=True),
    ActionSpec("pan", "Pan the image", "View", "fa5s.hand-paper", (), "Hold Space and drag on the image (or drag with the middle button)", keys=("Space + drag", "Middle-drag"), menu_entry=False),
    # Go
    ActionSpec("next_image", "&Next Image", "Go", "fa5s.arrow-right", ("D",), "Next image (LabelImg: D)", toolbar=True),
    ActionSpec("prev_image", "&Previous Image", "Go", "fa5s.arrow-left", ("A",), "Previous image (LabelImg: A)", toolbar=True),
    ActionSpec("verify_next", "&Verify and Next", "Go", "fa5s.check-circle", (), "Mark this image verified and go to the next unverified one", toolbar=True, keys=("Space (tap)",)),
    ActionSpec("next_frame", "Next &Frame", "Go", "fa5s.step-forward", (".", "Alt+Right"), "Next video frame"),
    ActionSpec("prev_frame", "Previous F&rame", "Go", "fa5s.step-backward", (",", "Alt+Left"), "Previous video frame"),
    ActionSpec("copy_to_next_frame", "Copy Boxes to Next Frame", "Go", "fa5s.angle-double-right", ("Ctrl+.",), "Copy this frame's boxes to the next frame and go there"),
    ActionSpec("jump_to", "&Jump To…", "Go", "fa5s.location-arrow", ("Ctrl+G",), "Jump to an image or frame number"),
    # Model
    ActionSpec("choose_model", "Choose &Model…", "Model", "fa5s.brain", ("Ctrl+M",), "Pick a zoo model or a checkpoint file"),
    ActionSpec("prelabel_current", "Pre-label &Current Image", "Model", "fa5s.magic", ("Ctrl+R",), "Run the detector on this image", toolbar=True),
    ActionSpec("prelabel_all", "Pre-label &All…", "Model", "fa5s.forward", ("Ctrl+Shift+R",), "Run the detector on many images"),
    ActionSpec("map_classes", "Ma&p Model Classes…", "Model", "fa5s.exchange-alt", ("Ctrl+Alt+M",), "Map the loaded model's classes to the project's classes (or ignore them)"),
    ActionSpec("auto_prelabel", "Pre-label on &Arrival", "Model", "fa5s.bolt", ("Ctrl+Alt+R",), "Run the detector whenever an image is shown", checkable=True),
    ActionSpec("one_box_per_object", "&One Box per Object", "Model", "fa5s.object-ungroup", ("Ctrl+Alt+U",), "Where a model finds one object as several classes, keep only its likeliest box (this project; applies to the next predictions)", checkable=True),
    ActionSpec("finetune", "&Fine-tune…", "Model", "fa5s.graduation-cap", ("Ctrl+T",), "Fine-tune the detector on the corrected labels"),
    ActionSpec("review_queue", "&Review Queue", "Model", "fa5s.list-ol", ("Ctrl+Shift+Q",), "Images sorted by model disagreement or uncertainty"),
    ActionSpec("compare_backbones", "Compare &Backbones…", "Model", "fa5s.balance-scale", ("Ctrl+Alt+B",), "Train two zoo models with the same budget and compare their metrics"),
    ActionSpec("toggle_inspector", "Model &Inspector", "View", "fa5s.microscope", ("Ctrl+Shift+I",), "Feature maps, Grad-CAM and architecture tables of the loaded model", checkable=True),
    ActionSpec("theme_system", "Theme: &System", "View", "fa5s.adjust", ("Ctrl+Alt+1",), "Follow the system's light/dark setting"),
    ActionSpec("theme_light", "Theme: &Light", "View", "fa5s.sun", ("Ctrl+Alt+2",), "Light theme"),
    ActionSpec("theme_dark", "Theme: &Dark", "View", "fa5s.moon", ("Ctrl+Alt+3",), "Dark theme"),
    # Help
    ActionSpec("shortcuts", "&Keyboard Shortcuts", "Help", "fa5s.keyboard", ("F1",), "List every shortcut"),
    ActionSpec("about", "&About rnxstudio", "Help", "fa5s.info-circle", ("Ctrl+F1",), "Version and environment"),
)

MENUS = ("File", "Edit", "View", "Go", "Model", "Help")


def spec(action_id: str) -> ActionSpec:
    for a in ACTIONS:
        if a.id == action_id:
            return a
    raise KeyError(action_id)


def key_texts(a: ActionSpec) -> list[str]:
    """Every key of an action as the user reads it: bound shortcuts, then widget-handled keys."""
    return [QKeySequence(s).toString(QKeySequence.NativeText) for s in a.shortcuts] + list(a.keys)


def tooltip(a: ActionSpec) -> str:
    keys = " / ".join(key_texts(a))
    return f"{a.tip} ({keys})" if keys else a.tip


def build_actions(parent: QWidget) -> dict[str, QAction]:
    """Create one QAction per spec, parented to ``parent`` (so shortcuts work window-wide)."""
    out: dict[str, QAction] = {}
    for a in ACTIONS:
        act = QAction(icon(a.icon), a.text, parent)
        act.setObjectName(a.id)
        if a.shortcuts:
            act.setShortcuts([QKeySequence(s) for s in a.shortcuts])
        act.setToolTip(tooltip(a))
        act.setStatusTip(a.tip)
        act.setCheckable(a.checkable)
        out[a.id] = act
    return out


def shortcut_rows(only: set[str] | None = None) -> list[tuple[str, str, str]]:
    """(menu, action text, keys) for the help dialog, in menu order (the order of :data:`MENUS`,
    then of the table) — generated, never hand-written. ``only`` limits the rows to the actions
    the window actually shows; key-only rows are always listed."""
    rows = []
    for a in sorted(ACTIONS, key=lambda a: MENUS.index(a.menu)):
        if only is not None and a.id not in only and a.menu_entry:
            continue
        rows.append((a.menu, a.text.replace("&", "").rstrip("…"), ", ".join(key_texts(a)) or "—"))
    return rows
