from dateutil import parser


def year_of(text):
    return parser.parse(text).year
