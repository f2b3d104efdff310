"""Key elements of a spoken report: the dates, places, people and activities it names (Chinese text).

```python
>>> extract("我上周三在海沧区参加了公益劳动，和李明一起打扫了社区卫生")
{'dates': ('上周三',), 'places': ('海沧区',), 'people': ('李明',), 'activities': ('参加公益劳动', '打扫社区卫生')}
```

Dates come from a small rule set (今天, 上周三, 3月5日, 十二月二十号, 三天前, 下午两点 …) applied to
the text before segmentation, because jieba's tagger takes many of them for names (上周三 → nr).
The rest comes from jieba's part-of-speech tagger on a private tokenizer (the global one is never
modified): `nr` words are people, `ns` words and whatever follows 在/去/到/回/离开 are places, and a
verb with the nouns after it (and a negation before it: 没有离开厦门) is an activity. A small user
dictionary adds the Xiamen districts and the words of corrections work (司法所, 公益劳动, 集中教育).

The function is pure: the same text gives the same elements. jieba reads its dictionary once, on the
first call (about a second); `warm_up()` does that at start-up instead.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

import jieba  # type: ignore[import-untyped]
import jieba.posseg  # type: ignore[import-untyped]

KeyElements = dict[str, tuple[str, ...]]
KEYS = ("dates", "places", "people", "activities")

_NUM = r"(?:[0-9０-９]{1,4}|[零〇一二两三四五六七八九十百]{1,4})"
_DAY_WORDS = (
    "大前天|大后天|前天|昨天|今天|明天|后天|今日|昨日|明日|当天|那天|今早|今晚|昨晚|明早|明晚|前晚|今儿|昨儿|明儿|"
    "周末|上半年|下半年|年初|年底|年末|月初|月底|月末|月中|春节|国庆|元旦|中秋|端午|清明|五一|十一"
)
_WEEK = r"(?:(?:上|下|这|本)(?:个)?(?:周|星期|礼拜)[一二三四五六日天末]?|(?:周|星期|礼拜)[一二三四五六日天末])"
_MONTH_YEAR = r"(?:(?:上|下|这|本)(?:个)?月|本月|上月|下月|(?:今|去|明|前)年)"
_ABSOLUTE = rf"(?:(?:{_NUM}年)?{_NUM}月(?:{_NUM}[日号])?|{_NUM}年(?:{_NUM}月)?)"
_AGO = rf"(?:{_NUM}(?:天|个月|周|个星期|个礼拜|年|个小时|小时)(?:以前|以后|之前|之后|前|后))"
_PART = r"(?:早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间|凌晨|半夜)"
_CLOCK = rf"(?:{_NUM}(?:点|时)(?:{_NUM}分|半|钟|整)?)"
_DIGIT_CLOCK = r"(?:[0-9]{1,2}[:：][0-9]{2}|[0-9]{1,2}点(?:[0-9]{1,2}分|半)?)"
_DAY = rf"(?:{_ABSOLUTE}|{_WEEK}|{_MONTH_YEAR}|{_AGO}|{_DAY_WORDS})"
DATE = re.compile(rf"{_DAY}+{_PART}?{_CLOCK}?|{_PART}{_CLOCK}?|{_DIGIT_CLOCK}")

# Words jieba does not know or tags wrongly, with the tag wanted.
_USER_WORDS = {
    "ns": [
        *(f"{d}区" for d in ("思明", "湖里", "海沧", "集美", "同安", "翔安")),
        *("思明", "湖里", "海沧", "集美", "同安", "翔安", "鼓浪屿"),
        "司法所",
        "派出所",
        "矫正中心",
        "社区矫正中心",
        "居委会",
        "村委会",
    ],
    "s": [
        "超市",
        "菜市场",
        "商场",
        "医院",
        "工地",
        "工厂",
        "公司",
        "单位",
        "学校",
        "老家",
        "家里",
        "车站",
        "火车站",
        "机场",
    ],
    "vn": ["公益劳动", "公益活动", "社区服务", "志愿服务", "集中教育", "心理辅导", "心理咨询", "技能培训", "法治教育"],
    "v": ["报到", "签到", "请假", "销假", "出差", "务工", "打工", "看病", "住院", "就医", "探亲", "买菜"],
}
_PEOPLE_WORDS = frozenset(
    {
        "父亲", "母亲", "爸爸", "妈妈", "妻子", "丈夫", "老婆", "老公", "儿子", "女儿", "哥哥", "姐姐", "弟弟", "妹妹",
        "爷爷", "奶奶", "外公", "外婆", "朋友", "同事", "老板", "邻居", "家人", "亲戚", "社工", "民警", "警察",
        "医生", "老师", "矫正官", "志愿者", "工作人员", "司法所长",
    }
)  # fmt: skip
_PLACE_MARKERS = frozenset({"在", "去", "到", "回", "来", "从", "离开", "前往", "赶到", "住在", "去了", "到了"})
_PLACE_TAGS = frozenset({"ns", "nt", "nz", "s", "n", "nis"})
_NOT_PLACES = frozenset({"时候", "时间", "情况", "问题", "一下", "这里", "那里", "哪里", "这边", "那边", "里"})
_NEGATIONS = frozenset({"没有", "没", "不", "未", "不再", "从未", "没去"})
_STOP_VERBS = frozenset(
    {
        "是", "有", "在", "去", "到", "来", "回", "说", "讲", "要", "会", "能", "想", "让", "给", "把", "被", "做",
        "知道", "觉得", "认为", "准备", "打算", "开始", "继续", "进行", "出现", "没有", "一起", "按", "使", "叫",
        "带", "带我去", "说完", "再说", "看", "得", "可以", "应该", "需要", "希望", "表示", "感觉",
    }
)  # fmt: skip
_ACTIVITY_TAGS = frozenset({"v", "vn", "vd", "l"})
_OBJECT_TAGS = frozenset({"n", "vn", "v", "nz", "l", "an"})
_SKIP = frozenset({"了", "过", "着"})
_MAX_ACTIVITY_CHARS = 10

_lock = threading.Lock()
_tagger: jieba.posseg.POSTokenizer | None = None


def _get_tagger() -> jieba.posseg.POSTokenizer:
    global _tagger
    with _lock:
        if _tagger is None:
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            for tag, words in _USER_WORDS.items():
                for word in words:
                    tokenizer.add_word(word, freq=200_000, tag=tag)
            _tagger = jieba.posseg.POSTokenizer(tokenizer)
        return _tagger


def warm_up() -> None:
    """Load jieba's dictionary now (it takes about a second) rather than at the first report."""
    extract("今天我在海沧区参加了公益劳动")


def dates(text: str) -> tuple[str, ...]:
    """The date and time expressions of the text, in order, each once."""
    return _unique(m.group(0) for m in DATE.finditer(text))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        item = item.strip()
        if item and item not in seen:
            seen[item] = None
    return tuple(seen)


def extract(text: str) -> KeyElements:
    """Dates, places, people and activities named in a report (each a tuple, possibly empty)."""
    found_dates = dates(text)
    # Dates are cut out before tagging so jieba cannot take 上周三 for a name; a comma keeps words apart.
    masked = DATE.sub("，", text)
    tokens = [(t.word, t.flag) for t in _get_tagger().cut(masked)]
    places: list[str] = []
    people: list[str] = []
    activities: list[str] = []
    for i, (word, flag) in enumerate(tokens):
        previous = tokens[i - 1][0] if i else ""
        if (flag == "nr" and 2 <= len(word) <= 4) or word in _PEOPLE_WORDS:
            people.append(word)
        elif word in ("在家", "回家", "到家"):
            places.append("家")
        elif flag == "ns" or (
            previous in _PLACE_MARKERS and flag in _PLACE_TAGS and word not in _NOT_PLACES and len(word) >= 2
        ):
            places.append(word)
    place_set = set(places)
    i = 0
    while i < len(tokens):
        word, flag = tokens[i]
        single = len(word) == 1 and i + 1 < len(tokens) and tokens[i + 1][1] in ("n", "vn")  # 找工作, 买菜
        if flag in _ACTIVITY_TAGS and word not in _STOP_VERBS and (len(word) >= 2 or single):
            phrase = word
            if i and tokens[i - 1][0] in _NEGATIONS:
                phrase = tokens[i - 1][0] + phrase
            j = i + 1
            while j < len(tokens) and len(phrase) < _MAX_ACTIVITY_CHARS:
                nxt, nflag = tokens[j]
                if nxt in _SKIP:
                    j += 1
                    continue
                if nxt in place_set and phrase.startswith(tuple(_NEGATIONS)):
                    phrase += nxt  # 没有离开厦门: the place is what the negation is about
                    j += 1
                    continue
                if nflag not in _OBJECT_TAGS or nxt in place_set or nxt in _STOP_VERBS or nxt in _PEOPLE_WORDS:
                    break
                phrase += nxt
                j += 1
            activities.append(phrase)
            i = j
            continue
        i += 1
    return {
        "dates": found_dates,
        "places": _unique(places),
        "people": _unique(p for p in people if p not in place_set),
        "activities": _unique(activities),
    }
