"""What the kiosk says, in Chinese and English: a catalogue keyed by message id.

Flows emit `Msg(id, params)` and never literal text; the UI renders them with `render(message,
lang)`. A parameter may itself be a Msg (the name of a device), which is rendered in the same
language. Every message has both languages with the same parameters (tests/unit/kiosk check it,
and check that every id a flow can emit is here).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from types import MappingProxyType

from kiosk.flows.types import Lang, Msg

LANGS: tuple[Lang, ...] = ("zh", "en")

_CATALOGUE: dict[str, tuple[str, str]] = {
    # -- screens shared by every flow ----------------------------------------------------------------------------
    "banner.offline": ("离线：记录将在恢复连接后上传", "Offline: records will be sent when the connection is back"),
    "idle.title": ("社区矫正自助终端", "Community corrections self-service kiosk"),
    "idle.prompt": ("请将身份证放在读卡区签到", "Place your ID card on the reader to check in"),
    "button.voice_report": ("语音汇报", "Voice report"),
    "button.staff": ("工作人员", "Staff"),
    "button.ok": ("确定", "OK"),
    "button.cancel": ("取消", "Cancel"),
    "card.title": ("身份核验", "Identity check"),
    "card.prompt": ("请将身份证放在读卡区", "Place your ID card on the reader"),
    "lookup.title": ("正在核验", "Checking"),
    "lookup.wait": ("请稍候……", "Please wait…"),
    "face.title": ("{name}，请看摄像头", "{name}, please look at the camera"),
    "face.look": ("请正对摄像头，保持不动", "Face the camera and hold still"),
    "face.hint.retry": ("请再试一次", "Please try again"),
    "face.hint.mismatch": (
        "未能确认是本人，请摘下帽子或眼镜后再试",
        "Could not confirm it is you; remove a hat or glasses and try again",
    ),
    "face.hint.no_face": ("未检测到人脸，请站到摄像头前", "No face found; stand in front of the camera"),
    "face.hint.several_faces": ("画面中有多人，请其他人离开", "Several faces in view; only one person, please"),
    "face.hint.too_small": ("请靠近一些", "Please come closer"),
    "face.hint.blurred": ("画面模糊，请保持不动", "The picture is blurred; hold still"),
    "face.hint.too_dark": ("光线太暗，请面向光源", "Too dark; face the light"),
    "face.hint.too_bright": ("光线太强，请避开强光", "Too bright; move out of the glare"),
    "face.hint.not_frontal": ("请正对摄像头，不要侧脸或低头", "Face the camera straight on"),
    "face.hint.cut_off": ("请将整张脸移入画面中央", "Move your whole face into the middle of the picture"),
    "finger.title": ("指纹核验", "Fingerprint check"),
    "finger.place": ("请将手指平放在指纹采集器上", "Place your finger flat on the sensor"),
    "finger.retry": ("指纹不匹配，请重新按压", "The fingerprint did not match; press again"),
    "device.camera": ("摄像头", "camera"),
    "device.fingerprint": ("指纹采集器", "fingerprint sensor"),
    "device.card_reader": ("身份证读卡器", "ID card reader"),
    "device.microphone": ("麦克风", "microphone"),
    "device.device": ("设备", "device"),
    # -- refusals (the reason code is published with the event; these are for the person) ----------------------------
    "refusal.card_unreadable": (
        "身份证信息无法识别，请重新放置或联系工作人员",
        "The ID card could not be read correctly; place it again or ask staff",
    ),
    "refusal.not_enrolled": (
        "未找到您的矫正档案，请联系工作人员",
        "No corrections record was found for this card; please ask staff",
    ),
    "refusal.lookup_failed": (
        "暂时无法核验身份，请稍后再试或联系工作人员",
        "Identity cannot be checked right now; try later or ask staff",
    ),
    "refusal.card_expired": ("身份证已过有效期（{until}）", "The ID card expired on {until}"),
    "refusal.released": (
        "{name}已解除矫正，无需签到",
        "{name} has been released from community corrections; no check-in needed",
    ),
    "refusal.not_active": ("{name}当前不在矫正期内", "{name} is not currently under community corrections"),
    "refusal.not_called": ("{name}不在本次点验名单中", "{name} is not on this roll call"),
    "refusal.no_face_template": (
        "尚未采集人脸信息，请联系工作人员采集",
        "No face has been enrolled yet; please ask staff to enrol you",
    ),
    "refusal.no_fingerprint_template": (
        "尚未采集指纹，请联系工作人员采集",
        "No fingerprint has been enrolled yet; please ask staff",
    ),
    "refusal.no_fingerprint_sensor": (
        "本机没有指纹采集器，无法完成需要指纹的核验，请联系工作人员",
        "This kiosk has no fingerprint sensor, and your check needs a fingerprint; please ask staff",
    ),
    "refusal.face_quality": ("未能采集到清晰的人脸", "A clear picture of your face could not be taken"),
    "refusal.face_mismatch": ("人脸核验未通过", "Face verification failed"),
    "refusal.fingerprint_mismatch": ("指纹核验未通过", "Fingerprint verification failed"),
    "refusal.card_removed": ("身份证已被取走，本次核验中止", "The ID card was removed; the check was stopped"),
    "refusal.device_failure": ("{device}故障，请联系工作人员", "The {device} failed; please ask staff"),
    "refusal.timeout": ("操作超时", "Timed out"),
    "refusal.cancelled": ("已取消", "Cancelled"),
    # -- check-in --------------------------------------------------------------------------------------------------
    "checkin.saving": ("正在保存签到记录", "Saving your check-in"),
    "checkin.saving_wait": ("请稍候，不要离开", "Please wait a moment"),
    "checkin.accepted": ("{name}，签到成功", "{name}, you are checked in"),
    "checkin.receipt_time": ("签到时间：{time}", "Checked in at {time}"),
    "checkin.refused": ("签到未成功", "Check-in not completed"),
    "checkin.see_staff": ("如有疑问请联系工作人员", "Please ask staff if you need help"),
    "checkin.not_saved": ("记录未能确认保存", "The record could not be confirmed as saved"),
    "checkin.tell_staff": ("请告知工作人员", "Please tell a member of staff"),
    # -- voice report ----------------------------------------------------------------------------------------------
    "voice.unavailable": ("语音汇报暂不可用", "Voice report unavailable"),
    "voice.unavailable_detail": ("原因：{detail}", "Reason: {detail}"),
    "voice.title": ("{name}，请开始语音汇报", "{name}, your voice report"),
    "voice.ready_prompt": (
        "按“开始录音”后说出您的汇报，最长{minutes}分钟",
        "Touch “Start” and speak your report, up to {minutes} minutes",
    ),
    "voice.recording": ("正在录音", "Recording"),
    "voice.speak_now": ("请讲话，说完后按“结束录音”", "Speak now; touch “Stop” when you are done"),
    "voice.processing": ("正在处理录音", "Processing the recording"),
    "voice.processing_wait": ("请稍候……", "Please wait…"),
    "voice.too_short": (
        "录音太短（少于{seconds}秒），请重新录音",
        "The recording is too short (under {seconds} s); please record again",
    ),
    "voice.review": ("请确认汇报内容", "Check your report"),
    "voice.review_prompt": ("内容无误请按“提交”，也可以重新录音", "Touch “Submit” if it is right, or record again"),
    "voice.no_text": ("未能识别出文字，录音仍会提交", "No words were recognised; the recording is still submitted"),
    "voice.sending": ("正在提交汇报", "Submitting your report"),
    "voice.sending_wait": ("请稍候，不要离开", "Please wait a moment"),
    "voice.upload_failed": ("上传失败，请再次提交", "The upload failed; please submit again"),
    "voice.transcription_failed": ("语音识别失败", "Speech recognition failed"),
    "voice.thanks": ("汇报已提交", "Report submitted"),
    "voice.saved": ("谢谢，您的语音汇报已保存", "Thank you, your voice report is saved"),
    "voice.not_saved": ("汇报未能确认保存", "The report could not be confirmed as saved"),
    "voice.not_verified": ("身份核验未通过", "Identity not confirmed"),
    "voice.failed": ("语音汇报未完成", "Voice report not completed"),
    "button.start_recording": ("开始录音", "Start"),
    "button.stop_recording": ("结束录音", "Stop"),
    "button.submit": ("提交", "Submit"),
    "button.rerecord": ("重新录音", "Record again"),
    # -- roll call -------------------------------------------------------------------------------------------------
    "rollcall.title": (
        "点验：还有{missing}人未应答（共{called}人）",
        "Roll call: {missing} of {called} still to answer",
    ),
    "rollcall.prompt_touch": (
        "被点到的人员请点击自己的编号，然后看摄像头",
        "If you are called, touch your number, then look at the camera",
    ),
    "rollcall.prompt_card": (
        "被点到的人员请放置身份证，然后看摄像头",
        "If you are called, place your ID card, then look at the camera",
    ),
    "rollcall.answer_as": ("我是 {subject}", "I am {subject}"),
    "rollcall.saving": ("正在记录应答", "Recording your answer"),
    "rollcall.answered": ("应答成功", "Answer recorded"),
    "rollcall.thanks": ("谢谢", "Thank you"),
    "rollcall.not_answered": ("应答未成功", "Answer not recorded"),
    "rollcall.already_answered": ("{name}已经应答", "{name} has already answered"),
    "rollcall.closed": ("点验结束", "Roll call closed"),
    "rollcall.summary": ("应答{answered}人，共{called}人", "{answered} of {called} answered"),
    # -- staff -----------------------------------------------------------------------------------------------------
    "pin.title": ("工作人员登录", "Staff sign-in"),
    "pin.prompt": ("请输入工作人员密码", "Enter the staff PIN"),
    "pin.wrong": ("密码错误", "Wrong PIN"),
    "pin.locked": ("密码错误次数过多，已锁定至{until}", "Too many wrong PINs: locked until {until}"),
    "staff.title": ("维护", "Maintenance"),
    "staff.no_pin": ("未配置工作人员密码，维护界面已关闭", "No staff PIN is configured; maintenance is closed"),
    "staff.device": ("设备：{device}", "Device: {device}"),
    "button.enrol": ("信息采集", "Enrol a subject"),
    "button.exit": ("退出", "Exit"),
    "button.skip_finger": ("跳过指纹", "Skip fingerprints"),
    "button.upload": ("上传", "Upload"),
    "button.redo": ("重新采集", "Start again"),
    "enrol.card_title": ("信息采集", "Enrolment"),
    "enrol.card_prompt": ("请将矫正对象的身份证放在读卡区", "Place the subject's ID card on the reader"),
    "enrol.not_registered": (
        "该身份证未登记矫正档案，请先在系统中登记",
        "This card has no corrections record; register the subject first",
    ),
    "enrol.face_title": ("{name}：人脸采集", "{name}: face enrolment"),
    "enrol.pose.front": ("请正对摄像头", "Look straight at the camera"),
    "enrol.pose.left": ("请把头稍微向左转", "Turn your head slightly to the left"),
    "enrol.pose.right": ("请把头稍微向右转", "Turn your head slightly to the right"),
    "enrol.pose_wrong": ("角度不对，请按提示转头", "Not the pose asked for; follow the prompt"),
    "enrol.face_failed": ("未能采集到合格的人脸照片", "No usable face pictures could be taken"),
    "enrol.finger_title": ("指纹采集", "Fingerprint enrolment"),
    "enrol.finger_prompt": ("第{finger}枚手指：请按提示多次按压", "Finger {finger}: press several times as prompted"),
    "enrol.finger_skipped": ("已跳过指纹采集", "Fingerprint enrolment skipped"),
    "enrol.review_title": ("{name}：确认上传", "{name}: confirm upload"),
    "enrol.summary": ("人脸{faces}张，指纹{fingers}枚", "{faces} face pictures, {fingers} fingers"),
    "enrol.uploading": ("正在加密上传", "Encrypting and uploading"),
    "enrol.upload_failed": ("上传失败，请检查网络后重试", "The upload failed; check the network and try again"),
    "enrol.done": ("采集完成", "Enrolment complete"),
    "enrol.done_line": ("{name}的信息已上传", "{name}'s templates are uploaded"),
    "enrol.failed": ("采集未完成", "Enrolment not completed"),
}

CATALOGUE: Mapping[str, Mapping[Lang, str]] = MappingProxyType(
    {key: MappingProxyType({"zh": zh, "en": en}) for key, (zh, en) in _CATALOGUE.items()}
)


class MessageError(KeyError):
    """A message id that is not in the catalogue, or parameters that do not fit its text."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "message error"


def fields(text: str) -> frozenset[str]:
    """The parameter names a catalogue text uses."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def render(message: Msg, lang: Lang = "zh") -> str:
    """The message in `lang`; nested messages among the parameters are rendered in the same language."""
    texts = CATALOGUE.get(message.id)
    if texts is None:
        raise MessageError(f"message id {message.id!r} is not in the kiosk catalogue (kiosk/i18n.py)")
    text = texts[lang]
    params = {k: render(v, lang) if isinstance(v, Msg) else v for k, v in message.params}
    missing = fields(text) - set(params)
    if missing:
        raise MessageError(f"message {message.id!r} needs parameter(s) {sorted(missing)}, got {sorted(params)}")
    return text.format(**params)
