"""Vocabularies for synthetic text: per-topic words in English and Chinese, names, brands.

Every topic carries four word lists that the post-text builder draws from: English words,
Chinese words, hashtags (without ``#``) and emoji. Topics are used in the order listed, so a
profile with ``n_topics = 12`` uses the first twelve.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Topic",
    "TOPICS",
    "EN_OPENERS",
    "ZH_OPENERS",
    "EN_CLOSERS",
    "ZH_CLOSERS",
    "NOISE_TAGS",
    "EN_FIRST",
    "EN_LAST",
    "ZH_SURNAMES",
    "ZH_GIVEN",
    "HANDLE_WORDS",
    "BRANDS",
    "CAMPAIGN_THEMES",
    "COUNTRIES_BY_LANGUAGE",
    "LANGUAGES",
]


@dataclass(frozen=True)
class Topic:
    """A content topic and the words that reveal it.

    Attributes
    ----------
    name : str
        Topic name, also used as the KOL ``category``.
    zh_name : str
        Chinese name of the topic.
    en : tuple of str
        English content words.
    zh : tuple of str
        Chinese content words.
    tags : tuple of str
        Hashtags without the leading ``#`` (English and Chinese).
    emoji : tuple of str
        Emoji typical of the topic.
    """

    name: str
    zh_name: str
    en: tuple[str, ...]
    zh: tuple[str, ...]
    tags: tuple[str, ...]
    emoji: tuple[str, ...]


def _t(name: str, zh_name: str, en: str, zh: str, tags: str, emoji: str) -> Topic:
    return Topic(name, zh_name, tuple(en.split()), tuple(zh.split()), tuple(tags.split()),
                 tuple(emoji.split()))


TOPICS: tuple[Topic, ...] = (
    _t("fitness", "健身",
       "workout gym squats deadlift cardio gains protein running HIIT stretching",
       "健身 跑步 撸铁 深蹲 燃脂 有氧 蛋白粉 马拉松",
       "fitness gym workout fitfam 健身 跑步", "💪 🏋️ 🏃 🔥"),
    _t("food", "美食",
       "recipe dinner noodles dumplings brunch dessert spicy homemade ramen baking",
       "美食 火锅 饺子 烘焙 甜品 家常菜 探店 早餐",
       "foodie recipe yummy 美食 探店 吃货", "🍜 🍰 🥟 😋"),
    _t("travel", "旅行",
       "trip beach backpacking itinerary hotel flight island sunset roadtrip hiking",
       "旅行 旅游 攻略 酒店 海边 自驾 打卡 日落",
       "travel wanderlust travelgram 旅行 旅游攻略", "✈️ 🏝️ 🗺️ 🌅"),
    _t("beauty", "美妆",
       "skincare makeup lipstick serum foundation routine glow moisturizer mascara",
       "护肤 化妆 口红 精华 粉底 面膜 美白 眼影",
       "beauty skincare makeup 美妆 护肤", "💄 ✨ 💅 🌸"),
    _t("fashion", "时尚",
       "outfit ootd streetwear sneakers denim vintage style lookbook dress",
       "穿搭 时尚 街拍 球鞋 复古 搭配 连衣裙 潮牌",
       "fashion ootd style 穿搭 时尚", "👗 👟 🕶️ 👜"),
    _t("gaming", "游戏",
       "gameplay speedrun console esports boss level controller stream ranked",
       "游戏 电竞 主机 通关 开黑 直播 手游 上分",
       "gaming gamer esports 游戏 电竞", "🎮 🕹️ 👾 🏆"),
    _t("tech", "科技",
       "smartphone laptop gadget review unboxing AI coding chip battery",
       "科技 数码 手机 笔记本 开箱 测评 芯片 编程",
       "tech gadgets unboxing 科技 数码", "📱 💻 🤖 ⚡"),
    _t("music", "音乐",
       "song cover guitar piano concert album playlist beat vocals",
       "音乐 翻唱 吉他 钢琴 演唱会 专辑 歌单 旋律",
       "music cover newmusic 音乐 翻唱", "🎵 🎸 🎹 🎤"),
    _t("pets", "萌宠",
       "puppy kitten dog cat adoption grooming treats paws fluffy",
       "萌宠 猫咪 狗狗 铲屎官 领养 撸猫 喵星人 汪星人",
       "pets dogsofinstagram catlife 萌宠 猫咪", "🐶 🐱 🐾 🥰"),
    _t("parenting", "育儿",
       "toddler baby parenting school bedtime family newborn playtime mom",
       "育儿 宝宝 亲子 早教 辅食 带娃 宝妈 绘本",
       "parenting momlife family 育儿 亲子", "👶 🍼 👨‍👩‍👧 🧸"),
    _t("finance", "理财",
       "investing stocks budget savings crypto dividends portfolio money tips",
       "理财 基金 股票 存钱 投资 副业 记账 财务自由",
       "finance investing money 理财 投资", "💰 📈 💹 🏦"),
    _t("education", "学习",
       "study exam notes language learning tutorial university lecture vocabulary",
       "学习 考研 笔记 英语 网课 自律 读书 刷题",
       "studygram learning edutok 学习 考研", "📚 ✏️ 🎓 🧠"),
    _t("sports", "体育",
       "football basketball match goal tennis championship league highlights score",
       "足球 篮球 比赛 进球 网球 冠军 联赛 集锦",
       "sports football nba 体育 足球", "⚽ 🏀 🎾 🥇"),
    _t("movies", "影视",
       "movie trailer series netflix review cinema actor scene soundtrack",
       "电影 电视剧 追剧 影评 预告片 演员 剧情 综艺",
       "movies filmtok series 电影 追剧", "🎬 🍿 🎥 📺"),
    _t("art", "艺术",
       "painting drawing sketch illustration watercolor canvas gallery digitalart",
       "绘画 插画 素描 水彩 手绘 艺术 展览 创作",
       "art illustration drawing 绘画 插画", "🎨 🖌️ 🖼️ ✍️"),
    _t("home", "家居",
       "interior decor DIY renovation plants cozy apartment organizing kitchen",
       "家居 装修 收纳 改造 绿植 软装 租房 好物",
       "homedecor interior diy 家居 装修", "🏠 🪴 🛋️ 🕯️"),
    _t("cars", "汽车",
       "car EV roadtest engine supercar drift garage horsepower electric",
       "汽车 新能源 试驾 电动车 改装 跑车 提车 续航",
       "cars carsofinstagram ev 汽车 新能源", "🚗 🏎️ 🔋 🛞"),
    _t("outdoors", "户外",
       "camping mountains trail kayak climbing forest wildlife tent stargazing",
       "户外 露营 爬山 徒步 登山 森林 骑行 星空",
       "outdoors camping hiking 户外 露营", "🏕️ ⛰️ 🌲 🧗"),
    _t("health", "健康",
       "sleep wellness meditation nutrition mindfulness vitamins hydration selfcare",
       "健康 养生 睡眠 冥想 营养 减脂 作息 中医",
       "wellness health selfcare 健康 养生", "🧘 🥗 💤 🍵"),
    _t("comedy", "搞笑",
       "funny prank meme sketch standup joke parody lol skit",
       "搞笑 段子 沙雕 吐槽 恶搞 笑死 名场面 整活",
       "comedy funny memes 搞笑 段子", "😂 🤣 🙃 🤡"),
)

EN_OPENERS: tuple[str, ...] = (
    "Today's", "Loving this", "Quick", "My favourite", "Can't stop thinking about",
    "Trying out", "Weekend", "New", "Honest thoughts on", "Behind the scenes:",
    "Day 3 of", "Guess what:", "Tiny", "Best", "Late night",
)
ZH_OPENERS: tuple[str, ...] = (
    "今天", "分享一下", "终于", "周末", "最近爱上", "记录", "安利", "真的绝了", "第一次", "日常",
)
EN_CLOSERS: tuple[str, ...] = (
    "what do you think?", "link in bio", "save for later", "more soon", "thoughts?", "",
    "tag a friend", "part 2 tomorrow",
)
ZH_CLOSERS: tuple[str, ...] = ("冲鸭", "求点赞", "你们觉得呢", "下期见", "", "码住", "快收藏")
NOISE_TAGS: tuple[str, ...] = ("fyp", "viral", "trending", "daily", "今日分享", "日常", "vlog")

EN_FIRST: tuple[str, ...] = (
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Chris", "Jamie", "Riley", "Casey", "Avery",
    "Emma", "Liam", "Olivia", "Noah", "Mia", "Lucas", "Zoe", "Ethan", "Chloe", "Ryan",
    "Grace", "Leo", "Ava", "Daniel", "Nina", "Omar", "Priya", "Mateo", "Sofia", "Kai",
)
EN_LAST: tuple[str, ...] = (
    "Smith", "Lee", "Brown", "Garcia", "Wilson", "Nguyen", "Martin", "Clark", "Lopez", "Young",
    "Khan", "Silva", "Tan", "Walker", "Hall", "Wright", "Kim", "Patel", "Chen", "Reyes",
)
ZH_SURNAMES: tuple[str, ...] = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "林",
)
ZH_GIVEN: tuple[str, ...] = (
    "小明", "晓雨", "子涵", "欣怡", "浩然", "梓萱", "一诺", "宇轩", "思远", "佳琪", "俊杰", "雨桐",
    "可可", "阿杰", "安安", "乐乐", "婷婷", "明轩", "诗涵", "天宇",
)
HANDLE_WORDS: tuple[str, ...] = (
    "sunny", "pixel", "mango", "lucky", "neon", "cozy", "wild", "urban", "lazy", "happy",
    "moon", "panda", "tiger", "cloud", "river", "maple", "coco", "nova", "echo", "blue",
    "xiaomi", "tangtang", "dada", "mimi", "bobo", "lele", "nini", "kiki", "doudou", "yoyo",
)
BRANDS: tuple[str, ...] = (
    "Acmefit", "Lumora", "Nordwave", "Kiboo", "Veloria", "Pandaro", "Zestly", "Orbix",
    "Haloma", "Tidewell", "Brightnest", "Quillo", "Sunvale", "Mochiya", "Ferroline", "Glimmr",
)
CAMPAIGN_THEMES: tuple[str, ...] = (
    "Spring Launch", "New Year Drop", "Summer Sale", "Creator Week", "Back to School",
    "Singles Day", "Holiday Gift Guide", "Flash Promo",
)
LANGUAGES: tuple[str, ...] = ("en", "zh", "mixed")
COUNTRIES_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "en": ("US", "US", "GB", "CA", "AU", "IN", "SG", "IE", "NZ", "DE"),
    "zh": ("CN", "CN", "CN", "TW", "HK", "SG", "MY"),
    "mixed": ("SG", "MY", "HK", "US", "CA", "AU", "TW"),
}
