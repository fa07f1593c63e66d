//! The `users` table on SQLite, PostgreSQL or MySQL (this service owns it: migrations
//! 600001-699999) and its passwords: argon2id PHC strings, checked off the async runtime; a login
//! of an unknown user costs the same as a wrong password, so the time does not tell which.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use std::sync::OnceLock;
use zero_sql::Db;

/// A user as the routes show it (no password).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Id (a SimpleUUID).
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub nickname: String,
    /// Mobile number.
    pub mobile: String,
    /// E-mail.
    pub email: String,
    /// Avatar URL.
    pub avatar: String,
    /// Department.
    pub dept_code: String,
    /// The `role` claim of the user's tokens.
    pub role: String,
}

/// What `editCurrentUser` may change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct Edit {
    /// Display name.
    pub nickname: Option<String>,
    /// Mobile number.
    pub mobile: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// A new password, with the current one.
    pub password: Option<(String, String)>,
}

/// A failure of the table or of a login.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The database.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// No such user, or a wrong password (one answer for both).
    #[error("wrong user name or password")]
    BadLogin,
    /// The user is gone.
    #[error("no such user")]
    NotFound,
    /// Hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
}

/// The table.
#[derive(Debug, Clone)]
pub struct Users {
    db: Db,
}

const COLS: &str = "id, username, nickname, mobile, email, avatar, dept_code, role";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn user_of(row: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    let t = |c: &str| zero_sql::text(row, c);
    Ok(User {
        id: t("id")?,
        username: t("username")?,
        nickname: t("nickname")?,
        mobile: t("mobile")?,
        email: t("email")?,
        avatar: t("avatar")?,
        dept_code: t("dept_code")?,
        role: t("role")?,
    })
}

/// The argon2id hash of `password` (blocking: call off the runtime).
///
/// # Errors
/// [`UserError::Hash`].
pub fn hash(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (blocking).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash no password matches, checked when the user does not exist.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash(&uuid::Uuid::new_v4().simple().to_string()).unwrap_or_default())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, UserError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| UserError::Hash(e.to_string()))
}

impl Users {
    /// Connects to `url` and applies the table's migrations.
    ///
    /// # Errors
    /// The database cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<Users, UserError> {
        let db = Db::connect(url).await?;
        db.migrate(sqlx::migrate!("./migrations")).await.map_err(|e| UserError::Db(e.into()))?;
        Ok(Users { db })
    }

    /// Adds `username` with `password` and `role` unless that name exists; whether it was added.
    ///
    /// # Errors
    /// The database; hashing.
    pub async fn ensure(&self, username: &str, password: &str, role: &str) -> Result<bool, UserError> {
        let pw = password.to_owned();
        let hashed = blocking(move || hash(&pw)).await??;
        let id = uuid::Uuid::now_v7().simple().to_string();
        let now = now_ms();
        let sql = self.db.sql(
            "INSERT INTO users (id, username, password_hash, nickname, mobile, email, avatar, dept_code, role, \
             create_time, update_time, is_deleted) VALUES (?, ?, ?, ?, '', '', '', '', ?, ?, ?, 0)",
        );
        let r = sqlx::query(&sql)
            .bind(id)
            .bind(username)
            .bind(hashed)
            .bind(username)
            .bind(role)
            .bind(now)
            .bind(now)
            .execute(self.db.pool())
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if zero_sql::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn row(&self, column: &str, value: &str) -> Result<Option<(User, String)>, UserError> {
        let text = format!("SELECT {COLS}, password_hash FROM users WHERE {column} = ? AND is_deleted = 0");
        let sql = self.db.sql(&text);
        let Some(row) = sqlx::query(&sql).bind(value).fetch_optional(self.db.pool()).await? else { return Ok(None) };
        Ok(Some((user_of(&row)?, zero_sql::text(&row, "password_hash")?)))
    }

    /// The user `username` when `password` is theirs.
    ///
    /// # Errors
    /// [`UserError::BadLogin`] (unknown user or wrong password, in the same time); the database.
    pub async fn login(&self, username: &str, password: &str) -> Result<User, UserError> {
        let found = self.row("username", username).await?;
        let stored = found.as_ref().map_or_else(|| decoy().to_owned(), |(_, h)| h.clone());
        let pw = password.to_owned();
        let ok = blocking(move || verify(&pw, &stored)).await?;
        match found {
            Some((u, _)) if ok => Ok(u),
            _ => Err(UserError::BadLogin),
        }
    }

    /// The user `id`.
    ///
    /// # Errors
    /// [`UserError::NotFound`]; the database.
    pub async fn get(&self, id: &str) -> Result<User, UserError> {
        self.row("id", id).await?.map(|(u, _)| u).ok_or(UserError::NotFound)
    }

    /// Applies `edit` to user `id` and returns the user as stored.
    ///
    /// # Errors
    /// [`UserError::BadLogin`] when a new password comes with a wrong current one;
    /// [`UserError::NotFound`]; the database.
    pub async fn edit(&self, id: &str, edit: Edit) -> Result<User, UserError> {
        let (mut user, stored) = self.row("id", id).await?.ok_or(UserError::NotFound)?;
        let mut password_hash = stored.clone();
        if let Some((current, new)) = edit.password {
            let ok = blocking(move || verify(&current, &stored)).await?;
            if !ok {
                return Err(UserError::BadLogin);
            }
            password_hash = blocking(move || hash(&new)).await??;
        }
        for (slot, v) in [
            (&mut user.nickname, edit.nickname),
            (&mut user.mobile, edit.mobile),
            (&mut user.email, edit.email),
            (&mut user.avatar, edit.avatar),
        ] {
            if let Some(v) = v {
                *slot = v;
            }
        }
        let sql = self.db.sql(
            "UPDATE users SET nickname = ?, mobile = ?, email = ?, avatar = ?, password_hash = ?, update_time = ? \
             WHERE id = ? AND is_deleted = 0",
        );
        let done = sqlx::query(&sql)
            .bind(&user.nickname)
            .bind(&user.mobile)
            .bind(&user.email)
            .bind(&user.avatar)
            .bind(password_hash)
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(UserError::NotFound);
        }
        Ok(user)
    }
}
