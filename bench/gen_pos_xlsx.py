#!/usr/bin/env python3
"""Writes a ПОС register export of N rows (headers as in the real export, with an extra
column and a title row) for the import benchmark. Needs openpyxl (pip install openpyxl).

    python3 bench/gen_pos_xlsx.py out.xlsx 100000
"""
import datetime
import random
import sys

from openpyxl import Workbook

HEADERS = [
    "Номер", "Номер ЕПГУ", "Источник", "Верхнеуровневый ЛКО", "Категория", "Подкатегория", "Факт",
    "Организация (текущая)", "Дата поступления", "Дата планируемого завершения работ",
    "Дата фактического завершения работ", "Стадия", "Статус", "Просрочено", "Фаст-трек", "ФЗ",
    "Заявитель выбрал подачу по 59-ФЗ", "Тип решения", "Оценка ответа заявителем",
    "Повторное рассмотрение", "ФИО координатора", "ФИО исполнителя", "ФИО руководителя", "Комментарий",
]
TOPICS = [
    ("ЖКХ", "Отопление", "Холодные батареи в квартире", "Управление ЖКХ"),
    ("Дороги", "Ямы и ремонт дорог", "Яма на дороге у дома", "Управление дорожного хозяйства"),
    ("Экология и мусор", "Вывоз мусора (ТКО)", "Не вывозят мусор", "Отдел экологии"),
    ("Благоустройство", "Дворы и детские площадки", "Сломаны качели во дворе", "Отдел благоустройства"),
]


def main() -> None:
    path, n = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(2026)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Реестр")
    ws.append(["Реестр сообщений ПОС"])
    ws.append(HEADERS)
    start = datetime.datetime(2026, 1, 1, 8, 0)
    for i in range(n):
        cat, sub, fact, org = rnd.choice(TOPICS)
        received = start + datetime.timedelta(minutes=rnd.randrange(0, 300 * 24 * 60))
        done = rnd.random() < 0.8
        ws.append([
            f"{1000000 + i}", f"EPGU-{i}", "Госуслуги", "Администрация г. Сорска", cat, sub, f"{fact}, сообщение {i}",
            org, received.strftime("%d.%m.%Y %H:%M"), (received + datetime.timedelta(days=14)).strftime("%d.%m.%Y"),
            (received + datetime.timedelta(days=rnd.randrange(1, 20))).strftime("%d.%m.%Y %H:%M") if done else "",
            "Завершено" if done else "В работе", "Отправлен ответ заявителю" if done else "На исполнении",
            "Нет", "Нет", "Обычное сообщение", "Нет", "Решено" if done else "", rnd.randint(1, 5) if done else "",
            "Нет", "Иванова А. А.", "Петров П. П.", "Сидоров С. С.", "",
        ])
    wb.save(path)


if __name__ == "__main__":
    main()
