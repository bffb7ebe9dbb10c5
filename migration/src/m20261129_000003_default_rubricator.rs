//! A fresh database starts with a sensible two-level rubricator that staff can edit.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Topics and their subtopics.
pub const RUBRICATOR: &[(&str, &[&str])] = &[
    (
        "ЖКХ",
        &[
            "Отопление",
            "Горячее водоснабжение",
            "Холодное водоснабжение",
            "Водоотведение и канализация",
            "Электроснабжение",
            "Газоснабжение",
            "Управляющие компании",
            "Капитальный ремонт",
        ],
    ),
    (
        "Дороги",
        &["Ямы и ремонт дорог", "Уборка снега и наледи", "Тротуары", "Уличное освещение", "Светофоры и дорожные знаки"],
    ),
    (
        "Благоустройство",
        &["Дворы и детские площадки", "Парки и скверы", "Озеленение", "Бродячие животные", "Уборка территорий"],
    ),
    ("Транспорт", &["Расписание и маршруты", "Состояние автобусов", "Остановки"]),
    ("Образование", &["Детские сады", "Школы", "Дополнительное образование"]),
    ("Здравоохранение", &["Поликлиники", "Запись к врачу", "Лекарственное обеспечение", "Скорая помощь"]),
    ("Социальная защита", &["Пособия и выплаты", "Помощь пенсионерам и инвалидам", "Многодетные семьи"]),
    (
        "Экология и мусор",
        &["Вывоз мусора (ТКО)", "Контейнерные площадки", "Несанкционированные свалки", "Загрязнение воздуха и воды"],
    ),
    ("Безопасность", &["Общественный порядок", "Пожарная безопасность", "Чрезвычайные ситуации"]),
    ("Строительство и архитектура", &["Самовольные постройки", "Разрешения на строительство"]),
    ("Культура и спорт", &["Учреждения культуры", "Спортивные объекты"]),
    ("Прочее", &["Другие вопросы"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (top, subs) in RUBRICATOR {
            let insert = Query::insert()
                .into_table("categories")
                .columns(["name", "version", "created_at"])
                .values_panic([(*top).into(), 1.into(), Expr::current_timestamp()])
                .returning_col("id")
                .take();
            let row = db.query_one(&insert).await?.ok_or_else(|| DbErr::Custom("no id returned".into()))?;
            let parent: i64 = row.try_get("", "id")?;
            for sub in *subs {
                let insert = Query::insert()
                    .into_table("categories")
                    .columns(["name", "parent_id", "version", "created_at"])
                    .values_panic([(*sub).into(), parent.into(), 1.into(), Expr::current_timestamp()])
                    .take();
                db.execute(&insert).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (top, subs) in RUBRICATOR {
            for sub in *subs {
                db.execute(&Query::delete().from_table("categories").and_where(Expr::col("name").eq(*sub)).take())
                    .await?;
            }
            db.execute(&Query::delete().from_table("categories").and_where(Expr::col("name").eq(*top)).take()).await?;
        }
        Ok(())
    }
}
